"""What a model file says about itself (ModelInfo), checked before use, and the inference
contract that its format version promises.

A model file may come from anywhere. Its metadata strings decide which network gets built
(and so how much memory that takes) and what the user is shown, so every value is checked
for type and range here: a damaged or hostile file ends in one clear FstError, never in a
traceback or a runaway allocation. Imports no torch (the ONNX path uses it too).

Format versions (the ``format_version`` entry of safetensors and ONNX files):

- "1": ``style``, ``arch``, ``training``; the ONNX graph is the bare network.
- "2": adds ``objective`` (the LossConfig settings, a JSON object) and ``style_images``
  (a JSON list of base64 PNGs, the style images as training saw them); the network adds
  the reflected border margin (BORDER_MARGIN) itself, inside the ONNX graph too.
  A network holding several styles (``arch`` has ``num_styles`` S > 1) also has ``styles``,
  a JSON list of the S style names in the order of its style weights, and S style images
  (or none); ``style`` then names the model as a whole.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fst.errors import FstError
from fst.loss.config import loss_keys

FORMAT_VERSION = 2  # written by this version of fst
MARGIN_VERSION = 2  # the first format whose graphs add the border margin themselves
# Reflected pixels added on every side before the network, cropped after: networks
# trained on small crops paint a band along the border, the margin moves it outside the
# picture (benchmarks/RESULTS.md). Images under 33 px get as much as reflection allows.
BORDER_MARGIN = 32
MAX_WIDTH = 512  # first-layer channels (the paper uses 32)
MAX_RES_BLOCKS = 64  # residual blocks (the paper uses 5)
MAX_STYLES = 256  # styles in one network
MAX_NAME = 200  # characters in a style or architecture name
MAX_JSON = 1 << 20  # bytes of one JSON metadata value
MAX_STYLE_IMAGE_BYTES = 16 << 20  # PNG bytes of all style images together
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ARCH_KEYS = {"width", "num_res_blocks", "arch", "num_styles"}
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class ModelInfo:
    """The checked description of a model file.

    style: style name; arch: network settings (TransformerConfig's fields, as stored);
    training: training settings; objective: LossConfig settings ({} when unknown);
    style_images: the style images as PNG bytes (() when absent); precision: "fp32" or
    "fp16" (the arithmetic of the graph); format_version: the file's format (see above);
    producer: the fst version that wrote the file ("fst 0.1.0"; "" when not recorded);
    styles: the names of the styles a multi-style network holds, in the order of its style
    weights (() for a single-style file).
    """

    style: str
    arch: dict
    training: dict
    objective: dict
    style_images: tuple[bytes, ...]
    precision: str
    format_version: int
    producer: str = ""
    styles: tuple[str, ...] = ()

    @property
    def adds_margin(self) -> bool:
        """Whether the file's network adds the border margin itself (format 2 on). Format-1
        ONNX graphs do not, so the ONNX runners add it for them; networks that PyTorch
        builds (fst.models) always do."""
        return self.format_version >= MARGIN_VERSION

    @property
    def family(self) -> str:
        """The network family: "johnson" or "fast"."""
        return self.arch.get("arch", "johnson")

    @property
    def style_names(self) -> tuple[str, ...]:
        """The styles the network can paint, in the order of its style weights: ``styles``,
        or (``style``,) for a single-style file."""
        return self.styles or (self.style,)


def border_margin(height: int, width: int) -> int:
    """The reflected margin for an image of ``height`` x ``width``: min(32, H - 1, W - 1)."""
    return min(BORDER_MARGIN, height - 1, width - 1)


def damaged(origin: Path | str, what: str) -> FstError:
    return FstError(f"{origin}: damaged metadata ({what})")


def json_value(meta: dict[str, str], key: str, origin: Path | str, default: str, limit: int = MAX_JSON):
    """``meta[key]`` (or ``default``) parsed as JSON, at most ``limit`` characters."""
    text = meta.get(key, default)
    if not isinstance(text, str) or len(text) > limit:
        raise damaged(origin, f"'{key}' is not a JSON text under {limit} bytes")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise damaged(origin, f"'{key}' is not valid JSON: {str(exc)[:80]}") from None


def json_object(meta: dict[str, str], key: str, origin: Path | str) -> dict:
    """``meta[key]`` parsed as a JSON object ({} when absent)."""
    value = json_value(meta, key, origin, "{}")
    if not isinstance(value, dict):
        raise damaged(origin, f"'{key}' must be a JSON object, got {type(value).__name__}")
    return value


def whole_number(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def plain_name(value: object) -> bool:
    """A short, printable, single-line string (shown to users, written into logs)."""
    return isinstance(value, str) and len(value) <= MAX_NAME and value.isprintable()


def check_arch(arch: dict, origin: Path | str) -> dict:
    """A network description ({"width", "num_res_blocks", "arch"}, each optional) with sane
    values, or FstError."""
    unknown = sorted(set(arch) - ARCH_KEYS)
    if unknown:
        raise damaged(origin, f"unknown architecture settings {unknown}")
    width, blocks, name = arch.get("width"), arch.get("num_res_blocks", 5), arch.get("arch", "johnson")
    styles = arch.get("num_styles", 1)
    if width is not None and not whole_number(width, 1, MAX_WIDTH):
        raise damaged(origin, f"width must be a whole number 1..{MAX_WIDTH}, got {width!r}")
    if not whole_number(blocks, 0, MAX_RES_BLOCKS):
        raise damaged(origin, f"num_res_blocks must be a whole number 0..{MAX_RES_BLOCKS}, got {blocks!r}")
    if not whole_number(styles, 1, MAX_STYLES):
        raise damaged(origin, f"num_styles must be a whole number 1..{MAX_STYLES}, got {styles!r}")
    if not plain_name(name):
        raise damaged(origin, f"arch must be a short name, got {str(name)[:40]!r}")
    return dict(arch)  # as stored: absent settings keep TransformerConfig's defaults


def style_images_problem(images: Sequence[bytes]) -> str | None:
    """Why ``images`` cannot be stored as style images (None: they can): each must be a PNG
    file, all together at most MAX_STYLE_IMAGE_BYTES."""
    if sum(len(image) for image in images) > MAX_STYLE_IMAGE_BYTES:
        return f"style images larger than {MAX_STYLE_IMAGE_BYTES >> 20} MB together"
    for index, image in enumerate(images):
        if not image.startswith(PNG_SIGNATURE):
            return f"style image {index} is not a PNG file"
    return None


def encode_style_images(images: Sequence[bytes], origin: Path | str) -> str:
    """PNG bytes -> the ``style_images`` metadata value (a JSON list of base64 strings)."""
    problem = style_images_problem(images)
    if problem:
        raise FstError(f"{origin}: cannot store the style images ({problem})")
    return json.dumps([base64.b64encode(image).decode("ascii") for image in images])


def decode_style_images(meta: dict[str, str], origin: Path | str) -> tuple[bytes, ...]:
    """The ``style_images`` metadata value -> PNG bytes (() when absent), checked."""
    texts = json_value(meta, "style_images", origin, "[]", limit=2 * MAX_STYLE_IMAGE_BYTES)
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise damaged(origin, "'style_images' must be a JSON list of base64 strings")
    try:
        images = tuple(base64.b64decode(text, validate=True) for text in texts)
    except binascii.Error:
        raise damaged(origin, "'style_images' holds text that is not base64") from None
    problem = style_images_problem(images)
    if problem:
        raise damaged(origin, problem)
    return images


def styles_problem(styles: Sequence[object], num_styles: int, image_count: int) -> str | None:
    """Why ``styles`` cannot name the styles of a network holding ``num_styles`` with
    ``image_count`` style images (None: they can). A multi-style network needs one short,
    distinct, non-empty name per style and as many style images (or none); a single-style
    one has no ``styles`` (its ``style`` names it)."""
    if num_styles == 1:
        return "a single-style network has no 'styles' list" if styles else None
    if len(styles) != num_styles:
        return f"'styles' names {len(styles)} styles, the network holds {num_styles}"
    for name in styles:
        if not plain_name(name) or not name:
            return f"style name {str(name)[:40]!r} is not a short one-line name"
    if len(set(styles)) != len(styles):
        return "'styles' names a style twice"
    if styles and image_count not in (0, len(styles)):
        return f"{image_count} style images for {len(styles)} styles"
    return None


def decode_styles(meta: dict[str, str], arch: dict, image_count: int, origin: Path | str) -> tuple[str, ...]:
    """The ``styles`` metadata value (a JSON list of names; absent: none) -> names, checked
    against the checked ``arch`` and the number of style images."""
    names = json_value(meta, "styles", origin, "[]")
    if not isinstance(names, list):
        raise damaged(origin, f"'styles' must be a JSON list of names, got {type(names).__name__}")
    problem = styles_problem(names, arch.get("num_styles", 1), image_count)
    if problem:
        raise damaged(origin, problem)
    return tuple(names)


def format_version(meta: dict[str, str], origin: Path | str) -> int:
    """The ``format_version`` entry: 1 (the default, for files that predate it) or later."""
    value = meta.get("format_version", "1")
    if value not in {str(v) for v in range(1, FORMAT_VERSION + 1)}:
        raise damaged(origin, f"format_version {str(value)[:20]!r} is not one of 1..{FORMAT_VERSION}")
    return int(value)


def precision(meta: dict[str, str], origin: Path | str) -> str:
    """The ``precision`` entry of an ONNX file: "fp32" (the default) or "fp16"."""
    value = meta.get("precision", "fp32")
    if value not in PRECISIONS:
        raise damaged(origin, f"precision must be one of {PRECISIONS}, got {value[:20]!r}")
    return value


def objective_from(training: dict) -> dict:
    """The LossConfig settings among flat training settings: checkpoints and format-1 files
    of older fst versions keep them there."""
    return {key: training[key] for key in loss_keys() if key in training}


def producer(meta: dict[str, str], origin: Path | str) -> str:
    """The ``producer`` entry: which fst wrote the file ("" when absent)."""
    value = meta.get("producer", "")
    if not plain_name(value):
        raise damaged(origin, "producer must be a short one-line name")
    return value


def describe(info: ModelInfo, producer: str, origin: Path | str) -> dict[str, str]:
    """The metadata strings that every model file of this version carries for ``info`` (what
    model_info reads back): format_version, style, arch, training, objective, style_images,
    producer (e.g. "fst 0.1.0") and, for a multi-style network, styles. Each file type adds
    its own ``format`` and extras. FstError when the style names do not fit the network."""
    problem = styles_problem(info.styles, info.arch.get("num_styles", 1), len(info.style_images))
    if problem:
        raise FstError(f"{origin}: cannot store the style names ({problem})")
    styles = {"styles": json.dumps(list(info.styles))} if info.styles else {}
    return {
        "format_version": str(FORMAT_VERSION),
        "style": info.style,
        "arch": json.dumps(info.arch),
        "training": json.dumps(info.training, default=str),
        "objective": json.dumps(info.objective, default=str),
        "style_images": encode_style_images(info.style_images, origin),
        "producer": producer,
        **styles,
    }


def model_info(meta: dict[str, str], origin: Path | str) -> ModelInfo:
    """The checked ModelInfo of a safetensors or ONNX file's metadata."""
    style = meta.get("style", "")
    if not plain_name(style):
        raise damaged(origin, "style must be a short one-line name")
    version = format_version(meta, origin)
    training = json_object(meta, "training", origin)
    arch = check_arch(json_object(meta, "arch", origin), origin)
    images = decode_style_images(meta, origin)
    return ModelInfo(
        style=style,
        arch=arch,
        training=training,
        objective=json_object(meta, "objective", origin) if version >= 2 else objective_from(training),
        style_images=images,
        precision=precision(meta, origin),
        format_version=version,
        producer=producer(meta, origin),
        styles=decode_styles(meta, arch, len(images), origin),
    )

"""The trained styles that ship with fst, in the top-level ``checkpoints/`` folder.

Each style NAME is three files: ``NAME.onnx`` (fp32, for onnxruntime, OpenCV and the
browser), ``NAME.safetensors`` (fp16 weights, for PyTorch) and ``NAME.json`` (the
recipe: painting, training settings, wall time, machine, quality). Anywhere a model
file is accepted (``-m``), a bare NAME picks the shipped file for the chosen runtime.
A source checkout reads them from ``checkpoints/``; ``pip install .`` copies them to
``<prefix>/share/fst/checkpoints`` (pyproject's data-files), read when there is no source
tree. ``FST_MODELS_DIR`` adds folders of a user's own (os.pathsep-separated), searched
first: a style there is listed beside the shipped ones and wins over one of the same name.
Imports no torch.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from fst.errors import FstError

SOURCE_TREE_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
# Where `pip install` (not editable) puts them: pyproject's data-files.
INSTALLED_DIR = Path(sys.prefix) / "share" / "fst" / "checkpoints"


def model_dirs() -> list[Path]:
    """Where styles are looked up, first match of a name wins: the folders of
    $FST_MODELS_DIR, then the source tree's checkpoints/ (a source checkout) if it holds
    styles, else the installed copy."""
    user = [Path(entry) for entry in os.environ.get("FST_MODELS_DIR", "").split(os.pathsep) if entry]
    return [*user, SOURCE_TREE_DIR if any(SOURCE_TREE_DIR.glob("*.json")) else INSTALLED_DIR]


def describe_dirs() -> str:
    """The folders of :func:`model_dirs`, for messages."""
    return ", ".join(str(folder) for folder in model_dirs())


@dataclass(frozen=True)
class ShippedStyle:
    """One shipped style: its name, files and recipe."""

    name: str
    onnx: Path
    safetensors: Path
    recipe: dict


def shipped_styles() -> list[ShippedStyle]:
    """Every complete style (.onnx + .safetensors + .json) in :func:`model_dirs`: each
    folder's by name, a name only once (the first folder's)."""
    styles, seen = [], set()
    for recipe_path in [path for folder in model_dirs() for path in sorted(folder.glob("*.json"))]:
        onnx, weights = recipe_path.with_suffix(".onnx"), recipe_path.with_suffix(".safetensors")
        if onnx.is_file() and weights.is_file() and recipe_path.stem not in seen:
            seen.add(recipe_path.stem)
            try:
                recipe = json.loads(recipe_path.read_text())
            except (OSError, ValueError) as exc:
                raise FstError(f"{recipe_path}: unreadable recipe ({exc})") from None
            if not isinstance(recipe, dict) or not isinstance(recipe.get("training"), dict):
                raise FstError(f"{recipe_path}: not a shipped-style recipe (no 'training' entry)")
            styles.append(ShippedStyle(recipe_path.stem, onnx, weights, recipe))
    return styles


def path_like(spec: str | os.PathLike) -> bool:
    """A MODEL argument names a file when it has a suffix or a folder part."""
    text = os.fspath(spec)
    return Path(text).suffix != "" or "/" in text or "\\" in text


def resolve_model(spec: str | os.PathLike, runtime: str = "auto") -> Path:
    """A MODEL argument -> a file: paths stay as they are; a bare shipped style name
    becomes its .safetensors for the torch runtime, its .onnx otherwise.

    Raises FstError (one line, listing the shipped names) for an unknown name.
    """
    if path_like(spec) or Path(spec).is_file():
        return Path(spec)
    styles = {style.name: style for style in shipped_styles()}
    if spec not in styles:
        known = ", ".join(styles) or f"none found in {describe_dirs()}"
        raise FstError(f"{spec}: no such model file or shipped style (shipped styles: {known})")
    style = styles[spec]
    return style.safetensors if runtime == "torch" else style.onnx


def fast_variant(spec: str) -> str:
    """The shipped real-time variant (arch "fast") of the shipped style ``spec``:
    ``spec`` itself when it is one, else ``spec + "_fast"``; FstError when none ships."""
    fast = [style.name for style in shipped_styles() if style.recipe["training"].get("arch") == "fast"]
    for name in (spec, f"{spec}_fast"):
        if name in fast:
            return name
    raise FstError(
        f"--fast: no real-time variant of {spec!r} ships (real-time styles: "
        f"{', '.join(fast) or 'none'}); for your own model, train it with --model.arch fast"
    )

"""Checks on the metadata read from model files (safetensors inference files, ONNX), before use.

A model file may come from anywhere. Its metadata strings decide which network gets built
(and so how much memory that takes) and what the user is shown, so every value is checked
for type and range here: a damaged or hostile file ends in one clear FstError, never in a
traceback or a runaway allocation. Imports no torch (the ONNX path uses it too).
"""

from __future__ import annotations

import json
from pathlib import Path

from fst.errors import FstError

MAX_WIDTH = 512  # first-layer channels (the paper uses 32)
MAX_RES_BLOCKS = 64  # residual blocks (the paper uses 5)
MAX_NAME = 200  # characters in a style or architecture name
MAX_JSON = 1 << 20  # bytes of one JSON metadata value
ARCH_KEYS = {"width", "num_res_blocks", "arch"}
PRECISIONS = ("fp32", "fp16")


def damaged(origin: Path | str, what: str) -> FstError:
    return FstError(f"{origin}: damaged metadata ({what})")


def json_object(meta: dict[str, str], key: str, origin: Path | str) -> dict:
    """``meta[key]`` parsed as a JSON object ({} when absent)."""
    text = meta.get(key, "{}")
    if not isinstance(text, str) or len(text) > MAX_JSON:
        raise damaged(origin, f"'{key}' is not a JSON text under {MAX_JSON} bytes")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise damaged(origin, f"'{key}' is not valid JSON: {str(exc)[:80]}") from None
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
    if width is not None and not whole_number(width, 1, MAX_WIDTH):
        raise damaged(origin, f"width must be a whole number 1..{MAX_WIDTH}, got {width!r}")
    if not whole_number(blocks, 0, MAX_RES_BLOCKS):
        raise damaged(origin, f"num_res_blocks must be a whole number 0..{MAX_RES_BLOCKS}, got {blocks!r}")
    if not plain_name(name):
        raise damaged(origin, f"arch must be a short name, got {str(name)[:40]!r}")
    return dict(arch)  # as stored: absent settings keep TransformerConfig's defaults


def model_info(meta: dict[str, str], origin: Path | str) -> dict:
    """The checked description of a model file: {"style", "arch", "training"}."""
    style = meta.get("style", "")
    if not plain_name(style):
        raise damaged(origin, "style must be a short one-line name")
    arch = check_arch(json_object(meta, "arch", origin), origin)
    return {"style": style, "arch": arch, "training": json_object(meta, "training", origin)}


def precision(meta: dict[str, str], origin: Path | str) -> str:
    """The ``precision`` entry of an ONNX file: "fp32" (the default) or "fp16"."""
    value = meta.get("precision", "fp32")
    if value not in PRECISIONS:
        raise damaged(origin, f"precision must be one of {PRECISIONS}, got {value[:20]!r}")
    return value

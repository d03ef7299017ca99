"""The paintings a training run learns: one file, a folder of them, or a list."""

from __future__ import annotations

from pathlib import Path

from fst.errors import FstError
from fst.imageio import list_images


def painting_paths(spec: str | list[str]) -> list[Path]:
    """``--model.style_image`` -> the painting files, in style order.

    A file: that painting. A folder: every image in it, sorted by name (one style each).
    A list: those files, in order. FstError for a folder without images or a repeated name.
    """
    if isinstance(spec, str) and Path(spec).is_dir():
        paths = list_images(spec)
        if not paths:
            raise FstError(f"{spec}: no paintings (image files) in this folder")
    else:
        paths = [Path(p) for p in ([spec] if isinstance(spec, str) else spec)]
    if not paths:
        raise FstError("--model.style_image names no painting")
    names = [p.stem for p in paths]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FstError(f"two paintings share the style name {repeated[0]!r}: style names are file names")
    return paths

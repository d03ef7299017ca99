"""Image files in and out: decoding any mode to RGB, EXIF orientation, atomic writes.

Imports only Pillow and numpy, never torch, so the ONNX inference path stays light.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fst.errors import FstError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def open_image(path: str | os.PathLike) -> Image.Image:
    """Decode an image fully and turn it upright (EXIF orientation).

    Raises FstError with a one-line reason for a missing, empty, truncated or
    non-image file, or one beyond Pillow's decompression-bomb limit.
    """
    path = Path(path)
    if not path.exists():
        raise FstError(f"{path}: no such file")
    if path.is_dir():
        raise FstError(f"{path}: is a directory, not an image")
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise FstError(
            f"{path}: image too large (over {limit} pixels, Pillow's decompression-bomb limit)"
        ) from None
    except UnidentifiedImageError:
        reason = "empty file" if path.is_file() and path.stat().st_size == 0 else "unknown format"
        raise FstError(f"{path}: not a readable image ({reason})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        if not path.exists():  # deleted while being read
            raise FstError(f"{path}: no such file") from None
        reason = str(exc) or type(exc).__name__
        raise FstError(f"{path}: not a readable image ({reason})") from None


def wide_grey_to_8bit(img: Image.Image) -> Image.Image:
    """16-bit ("I;16*"), 32-bit integer ("I") or float ("F") greyscale -> 8-bit "L".

    16-bit modes always span 0..65535. "F" in [0, 1] (the usual float range) spans
    0..1. For "I" and other "F" images the range is a guess: 16-bit if any value
    exceeds 255, else 8-bit.
    """
    values = np.nan_to_num(np.asarray(img, dtype=np.float64))
    if img.mode.startswith("I;16") or values.max() > 255:
        scale = 255.0 / 65535.0
    elif img.mode == "F" and values.max() <= 1.0:
        scale = 255.0
    else:
        scale = 1.0
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), "L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB; transparent areas are composited on white."""
    if img.mode.startswith("I") or img.mode == "F":
        img = wide_grey_to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """open_image + to_rgb: an upright 8-bit RGB image."""
    return to_rgb(open_image(path))


def list_images(root: str | os.PathLike) -> list[Path]:
    """All files under ``root`` with an image suffix, sorted, hidden files skipped."""
    root = Path(root)
    if not root.is_dir():
        raise FstError(f"{root}: not a directory")
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def current_umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FstError(f"{path.parent}: output folder does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent)
    except OSError as exc:
        raise FstError(f"{path.parent}: cannot write here ({exc.strerror})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~current_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def save_image(img: Image.Image, path: str | os.PathLike, quality: int = 95) -> None:
    """Write atomically; the format follows the suffix (JPEG drops alpha)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise FstError(f"{path}: unknown image format '{path.suffix}'")
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    with atomic_path(path) as tmp:
        try:
            img.save(tmp, format=fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
        except OSError as exc:
            raise FstError(f"{path}: cannot write image ({exc})") from None

"""A corpus of awkward and broken image files, generated on the fly.

``write_corpus(folder)`` writes every case into ``folder`` and returns the cases; each
says whether fst must accept it (``valid``) and, for valid ones, the upright RGB pixels
it must decode to (``expect``, an (H, W, 3) uint8 array, compared within ``tolerance``
grey levels, JPEG cases need some).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE, WHITE = (220, 20, 30), (20, 40, 220), (255, 255, 255)


@dataclass(frozen=True)
class Case:
    """One file of the corpus.

    name: the file (or folder) name written into the corpus folder.
    valid: True if fst must decode it; False if it must be refused with a reason.
    expect: for valid cases, the RGB pixels (H, W, 3) uint8 it decodes to.
    tolerance: max per-channel difference allowed against ``expect``.
    what: a few words for the robustness table.
    """

    name: str
    valid: bool
    what: str
    expect: np.ndarray | None = None
    tolerance: int = 0


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB or lie about its size).

    ``rows``: the raw scanlines, each already prefixed with its filter byte.
    """
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def encoded(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def split_colours(width: int, height: int) -> np.ndarray:
    """Left half RED, right half BLUE: (H, W, 3) uint8; any rotation or mirroring shows."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return pixels


def grey(rows: list[list[int]]) -> np.ndarray:
    """Grey levels (H, W) -> the same greys as RGB pixels (H, W, 3) uint8."""
    return np.repeat(np.array(rows, np.uint8)[..., None], 3, axis=-1)


def corner_marked(width: int, height: int) -> np.ndarray:
    """BLUE with a RED top-left quarter: (H, W, 3) uint8; shows rotations too."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = BLUE
    pixels[: height // 2, : width // 2] = RED
    return pixels


def _cases() -> list[tuple[Case, Callable[[], bytes] | None]]:
    photo = corner_marked(64, 32)  # colour edges on 16-pixel JPEG block borders: small errors
    jpeg = encoded(Image.fromarray(photo), "JPEG", quality=95, subsampling=0)

    # EXIF orientation 6: the stored pixels must be turned 90 degrees clockwise to view.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.rot90(photo, k=1)  # what a camera held sideways stores
    rotated = encoded(
        Image.fromarray(np.ascontiguousarray(stored)), "JPEG", quality=95, subsampling=0, exif=exif
    )
    bad_exif = Image.Exif()
    bad_exif[0x0112] = 9  # not a valid orientation: ignored

    grey16 = np.array([[0, 257 * 10], [257 * 128, 65535]], dtype=">u2")  # 8-bit 0, 10, 128, 255
    rows16 = b"".join(b"\x00" + row.tobytes() for row in grey16)
    dark16 = np.array([[0, 255]], dtype=">u2")  # 8-bit 0 and 1: the darkest greys, not black and white
    dark_rows16 = b"\x00" + dark16.tobytes()
    rgb16 = np.zeros((2, 2, 3), dtype=">u2")
    rgb16[0, 0], rgb16[0, 1], rgb16[1, 0], rgb16[1, 1] = (
        (65535, 0, 0),
        (0, 65535, 0),
        (0, 0, 65535),
        (257 * 10,) * 3,
    )
    rgb16_rows = b"".join(b"\x00" + row.tobytes() for row in rgb16)

    palette = Image.new("P", (4, 2))
    palette.putpalette([*RED, *BLUE] + [0] * 762)
    palette.putdata([0, 0, 1, 1, 0, 0, 1, 1])
    palette_png = encoded(palette, "PNG", transparency=1)  # index 1 (BLUE) is transparent
    palette_expect = np.array([[RED, RED, WHITE, WHITE]] * 2, np.uint8)

    la = Image.fromarray(
        np.dstack([np.full((2, 2), 100, np.uint8), np.array([[255, 0], [255, 0]], np.uint8)]), "LA"
    )
    la_expect = np.array([[[100] * 3, WHITE]] * 2, np.uint8)

    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    cmyk = encoded(Image.fromarray(split_colours(16, 8)).convert("CMYK"), "JPEG", quality=95, subsampling=0)
    bilevel = Image.fromarray(np.array([[0, 255, 0, 255]], np.uint8)).convert("1")
    floats = Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), "F")

    bomb_side = 40000  # 1.6 gigapixels declared, above twice Pillow's limit; a few bytes on disk
    solid = lambda w, h, colour: np.full((h, w, 3), colour, np.uint8)  # noqa: E731

    return [
        (Case("zero_bytes.jpg", False, "zero-byte file"), lambda: b""),
        (Case("truncated.jpg", False, "JPEG cut off 10 bytes into its pixel data"),
         lambda: jpeg[: jpeg.index(b"\xff\xda") + 24]),
        (Case("text.jpg", False, "text file named .jpg"), lambda: b"these are my holiday notes\n" * 4),
        (Case("bomb.png", False, f"PNG header declaring {bomb_side}x{bomb_side} pixels"),
         lambda: png_bytes(bomb_side, bomb_side, 8, 2, b"\x00" * 16)),
        (Case("vanishes.jpg", False, "file deleted between listing and reading"), lambda: jpeg),
        (Case("folder.jpg", False, "a directory named like an image"), None),
        (Case("one_pixel.png", True, "1x1 image", solid(1, 1, RED)),
         lambda: encoded(Image.new("RGB", (1, 1), RED), "PNG")),
        (Case("three_pixels.png", True, "3x3 image", solid(3, 3, BLUE)),
         lambda: encoded(Image.new("RGB", (3, 3), BLUE), "PNG")),
        (Case("photo.jpg", True, "ordinary RGB JPEG", photo, 4), lambda: jpeg),
        (Case("png_named.jpg", True, "PNG content named .jpg", photo),
         lambda: encoded(Image.fromarray(photo), "PNG")),
        (Case("grey16.png", True, "16-bit greyscale PNG", grey([[0, 10], [128, 255]])),
         lambda: png_bytes(2, 2, 16, 0, rows16)),
        (Case("dark16.png", True, "16-bit greyscale PNG, all values below 256",
              grey([[0, 1]])),
         lambda: png_bytes(2, 1, 16, 0, dark_rows16)),
        (Case("rgb16.png", True, "16-bit RGB PNG",
              np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 10, 10]]], np.uint8)),
         lambda: png_bytes(2, 2, 16, 2, rgb16_rows)),
        (Case("cmyk.jpg", True, "CMYK JPEG", split_colours(16, 8), 4), lambda: cmyk),
        (Case("palette_alpha.png", True, "palette PNG with a transparent colour", palette_expect),
         lambda: palette_png),
        (Case("grey_alpha.png", True, "LA (greyscale + alpha) PNG", la_expect), lambda: encoded(la, "PNG")),
        (Case("grey.png", True, "L (greyscale) PNG", np.full((2, 3, 3), 77, np.uint8)),
         lambda: encoded(Image.new("L", (3, 2), 77), "PNG")),
        (Case("bilevel.png", True, "1-bit black and white PNG",
              grey([[0, 255, 0, 255]])),
         lambda: encoded(bilevel, "PNG")),
        (Case("float.tif", True, "32-bit float TIFF in [0, 1]",
              grey([[0, 128], [255, 64]]), 1),
         lambda: encoded(floats, "TIFF")),
        (Case("exif_rotated.jpg", True, "JPEG with EXIF orientation 6 (rotate 90)", photo, 4),
         lambda: rotated),
        (Case("exif_bad_orientation.jpg", True, "JPEG with an invalid EXIF orientation (9)", photo, 4),
         lambda: encoded(Image.fromarray(photo), "JPEG", quality=95, subsampling=0, exif=bad_exif)),
        (Case("animated.gif", True, "animated GIF (2 frames)", solid(8, 8, RED), 8), lambda: gif),
    ]  # fmt: skip


def write_corpus(folder: Path) -> list[Case]:
    """Write every case into ``folder`` (created) and return them, in a fixed order."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for case, content in _cases():
        path = folder / case.name
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content())
        cases.append(case)
    return cases


def valid(cases: list[Case]) -> list[Case]:
    return [c for c in cases if c.valid]


def invalid(cases: list[Case]) -> list[Case]:
    return [c for c in cases if not c.valid]

"""Captioned tiles laid out in a grid: the image sheets of the docs/make_*.py scripts."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

LABEL_HEIGHT = 22


def tile(image: Image.Image, label: str, width: int, height: int) -> Image.Image:
    """The image scaled into width x height, centred, with a caption strip below."""
    image = image.copy()
    image.thumbnail((width, height), Image.LANCZOS)
    out = Image.new("RGB", (width, height + LABEL_HEIGHT), "white")
    out.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=15)
    text_width = draw.textlength(label, font=font)
    draw.text(((width - text_width) / 2, height + 3), label, fill="black", font=font)
    return out


def grid(tiles: list[Image.Image], columns: int) -> Image.Image:
    """Equal-sized tiles row by row, ``columns`` to a row, on white."""
    rows = -(-len(tiles) // columns)
    width, height = tiles[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % columns) * width, (i // columns) * height))
    return sheet

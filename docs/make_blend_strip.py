"""Make docs/images/blend_strip.jpg and docs/images/many_styles.jpg from a shipped
multi-style model.

blend_strip.jpg: painting A, the photo stylized with A's weight 1, 0.75, 0.5, 0.25, 0
(B's weight the rest), painting B: one network, its γ/β mixed (fst.models.conditional).
many_styles.jpg: the photo and every style of the model, one-hot.

    python docs/make_blend_strip.py [--model eight_styles] [--blend starry_night great_wave]

Needs the shared demo data (../shared/data) for the photo (COCO 785, held out from
training, CC BY 2.0); the paintings are the ones stored in the model file.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from contact_sheet import grid, tile
from PIL import Image

from fst.imageio import load_rgb, save_image
from fst.infer.runners import open_runner
from fst.infer.style_mix import blend, one_hot
from fst.infer.stylize import StylizeOptions, stylize_frames

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "content" / "000000000785.jpg"
TILE_WIDTH, TILE_HEIGHT = 240, 180
AMOUNTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # the weight of the first style


def stylized(runner, photo: Image.Image, weights: np.ndarray) -> Image.Image:
    """``photo`` through the model with style ``weights``, as `fst stylize --style` does it."""
    options = StylizeOptions(style=tuple(float(w) for w in weights))
    return Image.fromarray(stylize_frames(runner, np.asarray(photo)[None], options)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="eight_styles")
    parser.add_argument("--blend", nargs=2, default=["starry_night", "great_wave"], metavar=("A", "B"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    runner = open_runner(args.model)
    names, images = runner.info.style_names, runner.info.style_images
    paintings = {
        name: Image.open(io.BytesIO(png)).convert("RGB") for name, png in zip(names, images, strict=True)
    }
    photo = load_rgb(PHOTO)
    photo.thumbnail((480, 480), Image.LANCZOS)
    first, second = (names.index(name) for name in args.blend)
    strip = [tile(paintings[args.blend[0]], args.blend[0], TILE_WIDTH, TILE_HEIGHT)]
    for amount in AMOUNTS:
        image = stylized(runner, photo, blend(second, first, amount, len(names)))
        strip.append(tile(image, f"{amount:g} / {1 - amount:g}", TILE_WIDTH, TILE_HEIGHT))
    strip.append(tile(paintings[args.blend[1]], args.blend[1], TILE_WIDTH, TILE_HEIGHT))
    save_image(grid(strip, columns=len(strip)), args.out / "blend_strip.jpg", quality=85)
    sheet = [tile(photo, "photo: COCO 785, CC BY 2.0", TILE_WIDTH, TILE_HEIGHT)]
    sheet += [
        tile(stylized(runner, photo, one_hot(i, len(names))), f"--style {name}", TILE_WIDTH, TILE_HEIGHT)
        for i, name in enumerate(names)
    ]
    save_image(grid(sheet, columns=5), args.out / "many_styles.jpg", quality=85)
    print(f"wrote {args.out / 'blend_strip.jpg'} and {args.out / 'many_styles.jpg'}")


if __name__ == "__main__":
    main()

"""Make docs/images/gallery.jpg: every shipped style on two photos it never saw in training.

Rows: the photos, then one row per shipped style (fst models): the painting and the
photos stylized by its ONNX file at their full size (640 px), as `fst stylize` does. Also writes each
result at 1024 px (the photo upscaled first) to outputs/gallery/ for a close look at
borders and textures, and prints the README's table of the styles' `fst evaluate`
results (from their recipes).

    python docs/make_gallery.py

Needs the shared demo data (../shared/data) for the paintings and the photos. The
photos are COCO val2017 images under CC BY 2.0 (../shared/data/SOURCES.md), held out
from training by configs/shipped.yaml (the first photos of the folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from contact_sheet import LABEL_HEIGHT, grid, tile
from PIL import Image

from fst.imageio import load_rgb, save_image
from fst.infer.runners import open_runner
from fst.infer.shipped import shipped_styles
from fst.infer.stylize import stylize_frames
from fst.measure.evaluate import format_iterations

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PHOTOS = {  # file -> caption (COCO image id, licence)
    "000000000785.jpg": "photo: COCO 785, CC BY 2.0",
    "000000009483.jpg": "photo: COCO 9483, CC BY 2.0",
}
TILE_WIDTH, TILE_HEIGHT = 320, 240
CLOSE_LOOK_SIZE = 1024
ITERS = ("50", "100", "200", "300")  # the L-BFGS checkpoints of fst evaluate


def stylize(runner, image: Image.Image) -> Image.Image:
    """An RGB image through fst.infer.stylize (as `fst stylize` does it), at its own size."""
    return Image.fromarray(stylize_frames(runner, np.asarray(image)[None])[0])


def upscaled(image: Image.Image, long_side: int) -> Image.Image:
    scale = long_side / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def evaluation_table(styles) -> str:
    """Markdown: per style, the training objective of the network and of L-BFGS (medians)."""
    rows = [
        "| style | network | L-BFGS 50 | L-BFGS 100 | L-BFGS 200 | L-BFGS 300 | equivalent iterations |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for style in styles:
        result = style.recipe["evaluation"]
        totals = [result["network_total_median"], *(result["lbfgs_total_median"][k] for k in ITERS)]
        equivalent = format_iterations(result["equivalent_iterations_median"], int(ITERS[-1]))
        rows.append(f"| {style.name} | " + " | ".join(f"{t:.3f}" for t in totals) + f" | {equivalent} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "gallery.jpg")
    parser.add_argument("--close-look", type=Path, default=REPO / "outputs" / "gallery")
    args = parser.parse_args()
    args.close_look.mkdir(parents=True, exist_ok=True)

    styles = [style for style in shipped_styles() if "painting" in style.recipe]  # one painting each
    photos = {name: load_rgb(DATA / "content" / name) for name in PHOTOS}
    tiles = [Image.new("RGB", (TILE_WIDTH, TILE_HEIGHT + LABEL_HEIGHT), "white")]  # top-left corner
    tiles += [tile(photo, PHOTOS[name], TILE_WIDTH, TILE_HEIGHT) for name, photo in photos.items()]
    for style in styles:
        painting = style.recipe["painting"]
        runner = open_runner(style.onnx)
        art = load_rgb(DATA / "styles" / painting["file"])
        tiles.append(tile(art, f"style: {painting['title']}", TILE_WIDTH, TILE_HEIGHT))
        for name, photo in photos.items():
            tiles.append(tile(stylize(runner, photo), f"-m {style.name}", TILE_WIDTH, TILE_HEIGHT))
            close_look = args.close_look / f"{style.name}_{Path(name).stem}_{CLOSE_LOOK_SIZE}.jpg"
            save_image(stylize(runner, upscaled(photo, CLOSE_LOOK_SIZE)), close_look)
        print(f"{style.name}: {painting['title']} ({painting['artist']})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid(tiles, columns=1 + len(photos)), args.out, quality=85)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    print(f"{CLOSE_LOOK_SIZE} px results for a close look: {args.close_look}\n")
    print(evaluation_table(styles))


if __name__ == "__main__":
    main()

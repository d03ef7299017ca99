"""Make docs/images/style_loss_gallery.jpg: one photo, one style, one result per style loss.

Trains one small network per loss (configs/quickstart.yaml, the same seed and steps,
only ``--model.loss.style_loss`` differs) through train.py, stylizes the photo with each, lays
the results side by side, and prints a table of every loss measured on every result.

    python docs/make_loss_gallery.py                   # train what is missing, then draw
    python docs/make_loss_gallery.py --steps 150 --jobs 2 --retrain

Needs the shared demo data (../shared/data); runs land in outputs/loss_gallery/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from contact_sheet import grid, tile
from PIL import Image
from torchvision.transforms import functional as TF

from fst.imageio import load_rgb, save_image
from fst.infer.model_file import load_model_file
from fst.loss.style_losses import every_loss
from fst.loss.terms import content_loss
from fst.loss.vgg import VGG16Features
from fst.train.module import DEFAULT_STYLE_LAYERS, load_style_image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
# COCO val2017 image 531286 (a red bus), CC BY 2.0 per ../shared/data/SOURCES.md.
CONTENT = DATA / "content" / "000000531286.jpg"
STYLE = DATA / "styles" / "great_wave.jpg"
# Run name -> --model.loss.style_loss value.
RUNS = {
    "gram": "gram",
    "linear": "linear",
    "poly": "poly",
    "gaussian": "gaussian",
    "bn": "bn",
    "gram+bn": "{gram: 0.5, bn: 0.5}",
}
STYLIZE_WIDTH = 384  # the photo is stylized at this width (the nets trained on 128 px photos)
TILE_WIDTH = 320


def run_name(name: str) -> str:
    return "gallery_" + name.replace("+", "_")


def model_path(workdir: Path, name: str) -> Path:
    return workdir / "checkpoints" / run_name(name) / f"{run_name(name)}.safetensors"


def train(name: str, workdir: Path, steps: int, style: Path) -> None:
    """Train one run with train.py, as a user would; its log goes to <workdir>/<run>.log."""
    run = run_name(name)
    command = [
        sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/quickstart.yaml"),
        "--data.root", str(REPO / "fst/assets/photos"), "--model.style_image", str(style),
        "--model.loss.style_loss", RUNS[name], "--trainer.max_steps", str(steps), "--seed_everything", "0",
        "--trainer.enable_progress_bar", "false", "--run_name", run,
    ]  # fmt: skip
    print(f"training {name}: {' '.join(command[1:])}", flush=True)
    with open(workdir / f"{run}.log", "w") as log:
        subprocess.run(command, cwd=workdir, check=True, stdout=log, stderr=subprocess.STDOUT)


def stylize(model: Path, photo: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] through the trained network."""
    net, _ = load_model_file(model)
    with torch.no_grad():
        return net(photo).clamp(0, 1)


def loss_table(photo: torch.Tensor, style: Path, results: dict[str, torch.Tensor]) -> str:
    """Markdown: the content loss and every (unscaled) style loss of each result."""
    torch.manual_seed(0)
    vgg = VGG16Features("caffe")
    layers = [*DEFAULT_STYLE_LAYERS]
    with torch.no_grad():
        losses = every_loss(vgg(load_style_image(style, 512), layers))
        content_target = vgg(photo, ["relu2_2"])["relu2_2"]
        rows = ["| image | content | " + " | ".join(losses) + " |", "|---" * (2 + len(losses)) + "|"]
        for label, image in {"the photo": photo, **results}.items():
            feats = vgg(image, layers)
            cells = [f"{content_loss(feats['relu2_2'], content_target).item():.3f}"]
            for name, per_layer in losses.items():
                draws = 8 if name == "gaussian" else 1  # a random estimate: average a few
                total = sum(loss(feats[layer]) for _ in range(draws) for layer, loss in per_layer.items())
                cells.append(f"{total.item() / draws:.3f}")
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="training steps per loss")
    parser.add_argument("--jobs", type=int, default=1, help="training runs at once")
    parser.add_argument("--retrain", action="store_true", help="train again even if a run exists")
    parser.add_argument("--content", type=Path, default=CONTENT)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--workdir", type=Path, default=REPO / "outputs" / "loss_gallery")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "style_loss_gallery.jpg")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    content = load_rgb(args.content)
    content = content.resize(
        (STYLIZE_WIDTH, round(content.height * STYLIZE_WIDTH / content.width)), Image.LANCZOS
    )
    photo = TF.to_tensor(content).unsqueeze(0)
    missing = [name for name in RUNS if args.retrain or not model_path(args.workdir, name).is_file()]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda name: train(name, args.workdir, args.steps, args.style), missing))
    results = {name: stylize(model_path(args.workdir, name), photo) for name in RUNS}

    height = round(content.height * TILE_WIDTH / content.width)
    tiles = [
        tile(content, "photo", TILE_WIDTH, height),
        tile(load_rgb(args.style), "style", TILE_WIDTH, height),
    ]
    tiles += [tile(TF.to_pil_image(image[0]), name, TILE_WIDTH, height) for name, image in results.items()]
    sheet = grid(tiles, columns=4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_image(sheet, args.out, quality=88)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)\n")
    print(loss_table(photo, args.style, results))


if __name__ == "__main__":
    main()

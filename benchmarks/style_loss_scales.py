"""Measure the per-loss ``scale`` constants of fst.loss.style_losses on real photos.

For each photo x (centre crop, resized to SIZE²) and each style loss L (unscaled: its
relative value as fst.loss.terms defines it), take L(φ(x)) summed over the four default style
layers and the gradient with respect to the pixels, g_L = ‖∂L/∂x‖. At x the content loss
is 0, so g_L is the whole pull of the style term on the first steps. The scale that gives
a loss gram's pull is the median over photos of g_gram / g_L for one style; the proposed
constant is the geometric mean of that over the styles. The Gaussian loss is a random
estimate: its gradient is averaged over DRAWS draws.

    python benchmarks/style_loss_scales.py --styles STYLE [STYLE ...] [--flavour caffe]

Prints a markdown table and the scales (docs/style-losses.md shows both).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from torchvision.transforms import functional as TF

from fst.imageio import list_images, load_rgb
from fst.loss.config import DEFAULT_STYLE_LAYERS
from fst.loss.objective import load_style_image
from fst.loss.style_losses import STYLE_LOSSES, every_loss
from fst.loss.vgg import VGG16Features

REPO = Path(__file__).resolve().parents[1]
SIZE = 256
DRAWS = 4


def load_photo(path: Path) -> torch.Tensor:
    """(1, 3, SIZE, SIZE) centre crop in [0, 1]."""
    img = load_rgb(path)
    img = TF.center_crop(TF.resize(img, SIZE), [SIZE, SIZE])
    return TF.to_tensor(img).unsqueeze(0)


def measure(photo: torch.Tensor, vgg: VGG16Features, losses: dict) -> dict[str, tuple[float, float]]:
    """{loss name: (loss value, gradient norm)} at y = photo, summed over the style layers."""
    y = photo.clone().requires_grad_(True)
    feats = vgg(y, DEFAULT_STYLE_LAYERS)
    out = {}
    for name, per_layer in losses.items():
        draws = DRAWS if name == "gaussian" else 1
        value = sum(loss(feats[layer]) for _ in range(draws) for layer, loss in per_layer.items()) / draws
        (grad,) = torch.autograd.grad(value, y, retain_graph=True)
        out[name] = (value.item(), grad.norm().item())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--styles", type=Path, nargs="+", default=[REPO / "fst/assets/starry_night.jpg"])
    parser.add_argument("--photos", type=Path, default=REPO / "fst/assets/photos")
    parser.add_argument("--style-size", type=int, default=512)
    parser.add_argument("--flavour", default="caffe", help="VGG-16 weights: caffe or torchvision")
    args = parser.parse_args()
    torch.manual_seed(0)
    photos = [load_photo(p) for p in list_images(args.photos)]
    vgg = VGG16Features(args.flavour)
    print(f"{args.flavour} VGG-16, styles at {args.style_size} px, {len(photos)} photos at {SIZE}x{SIZE}\n")
    print("| style | loss | L at photo (median) | ‖∂L/∂x‖ (median) | g_gram / g_L (median, min–max) |")
    print("|---|---|---|---|---|")
    medians: dict[str, list[float]] = {name: [] for name in STYLE_LOSSES}
    for style in args.styles:
        with torch.no_grad():
            losses = every_loss(vgg(load_style_image(style, args.style_size), DEFAULT_STYLE_LAYERS))
        results = [measure(photo, vgg, losses) for photo in photos]
        for name in STYLE_LOSSES:
            ratios = [r["gram"][1] / r[name][1] for r in results]
            medians[name].append(statistics.median(ratios))
            print(
                f"| {style.stem} | {name} | {statistics.median(r[name][0] for r in results):.3g} "
                f"| {statistics.median(r[name][1] for r in results):.3g} "
                f"| {medians[name][-1]:.3g} ({min(ratios):.3g}–{max(ratios):.3g}) |",
                flush=True,
            )
    print("\nScale (geometric mean over the styles of the median ratio):")
    for name, values in medians.items():
        print(f"- {name}: {statistics.geometric_mean(values):.3g}")


if __name__ == "__main__":
    main()

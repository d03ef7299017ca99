"""A multi-style model against single-style ones: S and C per style, and blends between two.

    python benchmarks/multi_style.py MODEL --photos HELD_OUT [--single NAME=MODEL ...] \\
        [--blend A B] [--json OUT]

For each style of MODEL (one-hot weights) the medians over the photos of the style
distance S and content distance C (fst.measure.quality; each style against its own
painting as stored in the model file), beside those of a single-style model of the same
painting (``--single starry_night=starry_night``) and the ratios. ``--blend A B``: S to
painting A and to painting B as A's weight goes 0, 0.25, 0.5, 0.75, 1 (B gets the rest);
S to A should fall monotonically. Also the file sizes. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from fst.imageio import list_images
from fst.infer.runners import open_runner
from fst.infer.shipped import resolve_model
from fst.infer.style_mix import blend, one_hot
from fst.loss.objective import png_to_tensor
from fst.measure.quality import QualityMeter

BLEND_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


def medians(runner, photos: list[torch.Tensor], meter: QualityMeter, style: np.ndarray | None) -> dict:
    """Median S and C of ``runner`` (with style weights ``style``) over ``photos``."""
    scores = [meter(torch.from_numpy(runner(photo.numpy(), style=style)), photo) for photo in photos]
    return {key: statistics.median(score[key] for score in scores) for key in ("S", "C")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the multi-style model (name or file)")
    parser.add_argument("--photos", type=Path, required=True, help="held-out photos")
    parser.add_argument("--single", action="append", default=[], help="NAME=MODEL: a single-style model")
    parser.add_argument("--blend", nargs=2, metavar=("A", "B"), help="two styles to blend")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    runner = open_runner(args.model, runtime="torch")
    names, info = runner.info.style_names, runner.info
    meters = {
        name: QualityMeter(png_to_tensor(png, name))
        for name, png in zip(names, info.style_images, strict=True)
    }
    photos = [QualityMeter.photo(path) for path in list_images(args.photos)]
    report: dict = {"model": args.model, "photos": len(photos), "styles": {}, "blend": []}
    singles = dict(spec.split("=", 1) for spec in args.single)
    print("| style | S | C | single-style S | single-style C | S ratio | C ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for index, name in enumerate(names):
        multi = medians(runner, photos, meters[name], one_hot(index, len(names)))
        row = {"multi": multi}
        if name in singles:
            row["single"] = medians(open_runner(singles[name], runtime="torch"), photos, meters[name], None)
        report["styles"][name] = row
        single = row.get("single")
        tail = (f"{single['S']:.3f} | {single['C']:.3f} | {multi['S'] / single['S']:.2f} | "
                f"{multi['C'] / single['C']:.2f}") if single else "| | |"  # fmt: skip
        print(f"| {name} | {multi['S']:.3f} | {multi['C']:.3f} | {tail} |")
    if args.blend:
        first, second = (names.index(name) for name in args.blend)
        print(f"\n| weight of {args.blend[0]} | S to {args.blend[0]} | S to {args.blend[1]} | C |")
        print("|---:|---:|---:|---:|")
        for amount in BLEND_STEPS:
            weights = blend(second, first, amount, len(names))
            to_first = medians(runner, photos, meters[args.blend[0]], weights)
            to_second = medians(runner, photos, meters[args.blend[1]], weights)
            report["blend"].append({"weight": amount, "S_first": to_first["S"], "S_second": to_second["S"],
                                    "C": to_first["C"]})  # fmt: skip
            print(f"| {amount:.2f} | {to_first['S']:.3f} | {to_second['S']:.3f} | {to_first['C']:.3f} |")
    sizes = {"multi": resolve_model(args.model, "torch").stat().st_size}
    sizes.update({name: resolve_model(spec, "torch").stat().st_size for name, spec in singles.items()})
    report["file_bytes"] = sizes
    print(f"\nfile sizes (bytes): {sizes}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

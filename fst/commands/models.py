"""``fst models``: the trained styles that ship with fst, usable as ``-m NAME``."""

from __future__ import annotations

import argparse

HELP = (
    "List the trained styles that ship with fst (use one with -m NAME), and the styles inside "
    "each multi-style model (pick or mix them with --style)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print the files of each style")


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError
    from fst.infer.runners import onnx_info
    from fst.infer.shipped import describe_dirs, shipped_styles

    styles = shipped_styles()
    if not styles:
        raise FstError(f"no styles found in {describe_dirs()} (FST_MODELS_DIR adds a folder of yours)")
    header = ("NAME", "PAINTING", "TRAINING", "QUALITY")
    inside = [onnx_info(s.onnx).styles for s in styles]  # the styles of multi-style models
    rows = [
        (
            s.name,
            f"{len(names)} paintings" if names else painting(s.recipe),
            training(s.recipe),
            quality(s.recipe),
        )
        for s, names in zip(styles, inside, strict=True)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    print(line(header))
    for style, row, names in zip(styles, rows, inside, strict=True):
        print(line(row))
        if names:
            print(f"    styles (pick or mix with --style): {', '.join(names)}")
        if args.paths:
            print(f"    {style.onnx}\n    {style.safetensors}")
    return 0


def painting(recipe: dict) -> str:
    """'Title (Artist, year)' from a recipe's ``painting`` entry."""
    art = recipe.get("painting", {})
    return f"{art.get('title', '?')} ({art.get('artist', '?')}, {art.get('year', '?')})"


def training(recipe: dict) -> str:
    """'N steps, S px crops, M min' from a recipe's ``training`` entry."""
    run = recipe.get("training", {})
    minutes = run.get("wall_time_s", 0) / 60
    steps, size = run.get("steps", "?"), run.get("image_size", "?")
    return f"{steps} steps, {size} px crops, {minutes:.0f} min"


def quality(recipe: dict) -> str:
    """The median equivalent L-BFGS iterations from ``fst evaluate``, when measured."""
    evaluation = recipe.get("evaluation")
    if not evaluation:
        return "not evaluated"
    median = evaluation.get("equivalent_iterations_median")
    last = max(int(k) for k in evaluation["lbfgs_total_median"])
    iterations = f"> {last}" if median is None else f"{median:.0f}"
    return f"{iterations} L-BFGS iterations (median of {evaluation['images']} unseen photos)"

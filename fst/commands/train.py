"""``fst train --style IMG --data DIR [--from MODEL] [LightningCLI overrides]``: short form
of train.py fit."""

from __future__ import annotations

import argparse

HELP = "Train a style model (short form of `python train.py fit`)."
EPILOG = (
    "Any other option goes to the Lightning CLI unchanged, e.g. --config configs/quickstart.yaml, "
    "--trainer.max_steps 2000, --model.loss.style_weight 20, --data.image_size 256. "
    "See `python train.py fit --help` for all of them."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument(
        "--style",
        required=True,
        help="the style image, or a folder of them for one network holding every style "
        "(sets --model.style_image)",
    )
    parser.add_argument("--data", required=True, help="folder of training photos (sets --data.root)")
    parser.add_argument(
        "--from",
        dest="extend",
        metavar="MODEL",
        help="add the style(s) to this trained network (shipped name or file), training only "
        "the new styles' instance-norm scale and shift (sets --model.extend)",
    )


def run_raw(argv: list[str]) -> int:
    """Parse our two options, pass everything else to the training CLI."""
    parser = argparse.ArgumentParser(prog="fst train", description=HELP, epilog=EPILOG)
    add_arguments(parser)
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        return 0
    args, rest = parser.parse_known_args(argv)
    return run(args, rest)


def run(args: argparse.Namespace, rest: list[str] | None = None) -> int:
    from fst.train.cli import main

    extend = ["--model.extend", args.extend] if args.extend else []
    main(["fit", *(rest or []), "--model.style_image", args.style, "--data.root", args.data, *extend])
    return 0

"""Command-line options shared by the commands that run a style model (video, webcam, ...).

``add_model_arguments`` adds -m/--model, --style (which styles of a multi-style model),
--runtime and --device; ``add_style_arguments`` adds the fst.infer.stylize.StylizeOptions
knobs; ``add_temporal_argument`` adds --temporal (fst.infer.temporal); ``open_model``,
``stylize_options`` and ``with_style`` turn the parsed values into a runner and options.
Imports no torch.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from fst.infer.runners import DEVICES, RUNTIMES, Runner
from fst.infer.stylize import DEFAULT_TEMPORAL, StylizeOptions


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--model",
        required=True,
        help="a shipped style's name (see `fst models`), an exported .onnx, "
        "a .safetensors inference file or a .ckpt",
    )
    parser.add_argument(
        "--style",
        metavar="NAME[=W],...",
        help="for a model holding several styles (see `fst models`): the style to paint, "
        "e.g. starry_night, or a mix, e.g. starry_night=0.7,great_wave=0.3 (weights are "
        "normalised to sum 1; a name alone weighs 1); default: the model's first style",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="auto (default): torch for .ckpt/.safetensors, onnxruntime for .onnx; opencv runs .onnx too",
    )
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="auto (default): cuda when available"
    )


def add_style_arguments(parser: argparse.ArgumentParser, batching: bool = True) -> None:
    """The StylizeOptions flags; ``batching`` adds --batch-size and --tile (not for live video)."""
    if batching:
        parser.add_argument(
            "--max-size",
            type=int,
            help="downscale the long side to N pixels for the network, "
            "then scale the result back (faster; default: full size)",
        )
        parser.add_argument("--batch-size", type=int, default=1, help="images per forward pass (default 1)")
        parser.add_argument(
            "--tile",
            type=int,
            help="tile side in pixels (default: automatic, only when an "
            "image exceeds the memory budget; 0: never tile)",
        )
    parser.add_argument(
        "--preserve-color",
        action="store_true",
        help="keep the input's colours, take only luminance from the style",
    )
    parser.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="1 (default) fully stylized, 0 the input unchanged, between: a blend",
    )


def add_temporal_argument(parser: argparse.ArgumentParser) -> None:
    """--temporal: strength of the flicker reduction (fst.infer.temporal.TemporalBlender)."""
    parser.add_argument(
        "--temporal",
        type=float,
        default=DEFAULT_TEMPORAL,
        metavar="T",
        help="reduce flicker: blend in the previous stylized frame, moved along the optical "
        "flow, with weight T where the flow is reliable (scene cuts start afresh); "
        f"0 <= T < 1, default {DEFAULT_TEMPORAL}; 0: off, every frame on its own",
    )


def stylize_options(args: argparse.Namespace) -> StylizeOptions:
    """The parsed style flags as StylizeOptions (flags a command lacks keep their defaults)."""
    return StylizeOptions(
        max_size=getattr(args, "max_size", None),
        tile=getattr(args, "tile", None),
        preserve_color=args.preserve_color,
        strength=args.strength,
        batch_size=getattr(args, "batch_size", 1),
    )


def with_style(options: StylizeOptions, args: argparse.Namespace, runner: Runner) -> StylizeOptions:
    """``options`` with the --style weights over ``runner``'s styles (unchanged without
    --style); FstError (one line) for a value that does not fit the model."""
    if args.style is None:
        return options
    from fst.infer.style_mix import parse_style

    return replace(options, style=tuple(parse_style(args.style, runner.info.style_names).tolist()))


def open_model(args: argparse.Namespace) -> Runner:
    """The runner for -m/--model, --runtime and --device (FstError for a bad model file)."""
    from fst.infer.runners import open_runner

    return open_runner(args.model, args.runtime, args.device)

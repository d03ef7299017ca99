"""``fst video IN.mp4 OUT.mp4 -m MODEL``: stylize every frame of a video, keep its audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from fst.commands.inference_args import add_model_arguments, add_style_arguments, add_temporal_argument

HELP = (
    "Stylize every frame of a video file, with flicker reduction (--temporal); "
    "frame count, size, frame rate and audio are kept."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the video to read (.mp4, .mov, .mkv, .webm, ...)")
    parser.add_argument("output", type=Path, help="the video to write; its suffix picks the format")
    add_model_arguments(parser)
    add_style_arguments(parser)
    add_temporal_argument(parser)
    parser.add_argument(
        "--report",
        action="store_true",
        help="print the flicker: warping error of the output frames and of the input's "
        "(Lai et al. 2018, DIS optical flow on the input)",
    )


def run(args: argparse.Namespace) -> int:
    from fst.commands.inference_args import open_model, stylize_options, with_style
    from fst.infer.stylize import check_temporal
    from fst.infer.video import check_output, open_video, stylize_video
    from fst.measure.flicker import FlickerMeter

    options = stylize_options(args)
    temporal = check_temporal(args.temporal)
    open_video(args.input).close()  # bad input or output fails before the model loads
    check_output(args.output)
    runner = open_model(args)
    options = with_style(options, args, runner)
    meter = FlickerMeter() if args.report else None
    observe = meter.add if meter is not None else None
    report = stylize_video(runner, args.input, args.output, options, temporal=temporal, observe=observe)
    audio = f", {report.audio_streams} audio stream(s) copied" if report.audio_streams else ""
    cuts = f", {report.cuts} scene cut(s)" if report.cuts else ""
    print(
        f"wrote {args.output}: {report.frames} frames, {report.width}x{report.height} "
        f"at {float(report.rate):.3g} fps{audio}, temporal {temporal:g}{cuts} "
        f"({runner.name}, {runner.device})"
    )
    if meter is not None:
        print(meter.report().line())
    return 0

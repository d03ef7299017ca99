"""``fst webcam -m MODEL``: live stylization of a camera (or a file or stream) with an FPS overlay."""

from __future__ import annotations

import argparse
from pathlib import Path

from fst.commands.inference_args import add_model_arguments, add_style_arguments, add_temporal_argument

HELP = (
    "Stylize a camera (or video file or stream URL) live in a window with an FPS overlay; q or Esc "
    "quits. With a multi-style model, keys 1-9 pick a style, n the next one, b blends the current "
    "style 50/50 with the next (b again moves the blend on)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument(
        "--fast",
        action="store_true",
        help="use the real-time variant of a shipped style (-m starry_night --fast runs "
        "starry_night_fast: 15+ fps at 640x480 on a 2-core CPU)",
    )
    parser.add_argument("--source", default="0", help="camera index (default 0), video file or stream URL")
    parser.add_argument(
        "--size",
        metavar="WxH",
        help="processing size for the network, e.g. 320x240 "
        "(default: about 320x240 on a CPU, the capture size on a GPU)",
    )
    parser.add_argument(
        "--no-display", action="store_true", help="no window (automatic when there is no display)"
    )
    parser.add_argument(
        "--output", type=Path, help="record the stylized stream to this video file (.mp4, .mkv, ...)"
    )
    parser.add_argument(
        "--max-frames", type=int, help="stop after N frames (default: until the source ends or q)"
    )
    add_style_arguments(parser, batching=False)
    add_temporal_argument(parser)


def run(args: argparse.Namespace) -> int:
    import sys

    from fst.commands.inference_args import open_model, stylize_options, with_style
    from fst.errors import FstError
    from fst.infer.shipped import fast_variant
    from fst.infer.stylize import check_temporal
    from fst.infer.video import check_output
    from fst.infer.webcam import has_display, open_capture, open_window, parse_size, parse_source, run_webcam

    options = stylize_options(args)
    temporal = check_temporal(args.temporal)
    if args.fast:
        args.model = fast_variant(args.model)
    size = parse_size(args.size) if args.size else None
    if args.max_frames is not None and args.max_frames < 1:
        raise FstError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.output:
        check_output(args.output)
    source = parse_source(args.source)
    capture = open_capture(source)
    try:
        display = not args.no_display and has_display()
        if not args.no_display and not display:
            print("fst webcam: no display found, running headless (as with --no-display)", file=sys.stderr)
        runner = open_model(args)
        options = with_style(options, args, runner)
        if display:
            open_window()
        live = isinstance(source, int) or "://" in source
        report = run_webcam(
            runner, capture, size, display, args.output, options, args.max_frames, live, temporal
        )
    finally:
        capture.release()
    w, h = report.processing_size
    saved = f"; wrote {args.output}" if args.output else ""
    where = f"stylized at {w}x{h}, temporal {temporal:g}, {runner.name}, {runner.device}"
    print(f"{report.frames} frames at {report.fps:.2f} fps ({where}){saved}")
    return 0

"""``fst flicker IN.mp4 OUT.mp4``: how much a stylized video flickers, next to its input."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = (
    "Measure flicker: the warping error (Lai et al. 2018) of a stylized video and of its input, "
    "with DIS optical flow on the input."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="the original video")
    parser.add_argument("output", type=Path, help="the stylized video made from it (same frames and size)")


def run(args: argparse.Namespace) -> int:
    import itertools

    from fst.errors import FstError
    from fst.infer.video import read_frames
    from fst.measure.flicker import FlickerMeter

    meter, count = FlickerMeter(), 0
    for source, output in itertools.zip_longest(read_frames(args.input), read_frames(args.output)):
        if source is None or output is None:
            longer = args.input if output is None else args.output
            raise FstError(f"{longer}: has more frames than the other video ({count} in common)")
        if source.shape != output.shape:
            raise FstError(
                f"{args.output}: frames are {output.shape[1]}x{output.shape[0]}, "
                f"the input's {source.shape[1]}x{source.shape[0]}; they must match"
            )
        meter.add(source, output)
        count += 1
    print(f"{count} frames; {meter.report().line()}")
    return 0

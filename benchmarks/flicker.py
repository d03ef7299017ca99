"""Flicker of `fst video` on real camera clips, with and without temporal blending.

    python benchmarks/flicker.py [--videos ../shared/data/video] [--frames 48] [--width 320]
        [--model starry_night] [--temporal T] [--sweep 0.5,0.6,0.7,0.8,0.9] [--webcam 150]
        [--json flicker.json]
    python benchmarks/flicker.py --cuts

For each clip: its first ``--frames`` frames, scaled to ``--width`` px wide, are re-encoded
to a temporary file (H.264, CRF 18, not kept). ``fst video``'s library call
(fst.infer.video.stylize_video) stylizes it twice, per frame (--temporal 0) and with
``--temporal``; the frames handed to the encoder are measured:

- warping error E (fst.measure.flicker, DIS flow on the input frames) of the input, of
  the per-frame output and of the blended output, and their ratio; the same with
  Farneback's optical flow as a cross-check (a different flow from the one the blending
  uses, so the blending is not graded by its own flow);
- style distance S and content distance C (fst.measure.quality, the painting of the
  model against a 256 px centre crop of the frame) averaged over every 4th frame;
- frames per second of the whole stylize_video call.

``--sweep`` blends the per-frame output again offline at other strengths (the same
TemporalBlender that stylize_video uses) to choose the default. ``--webcam N`` times the
live loop, ``fst webcam -m MODEL --fast --source FILE --no-display`` on the first N
frames of the first clip cropped to 4:3 and scaled to 640x480, with --temporal 0 and
with ``--temporal``, in alternating rounds, and measures the blending step on its own.
``--cuts`` only lists, for every whole clip at ``--width``, the frames where the blending
detects a scene cut. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fst.infer.flow import FlowEstimator, grey, match, shrink  # noqa: E402
from fst.infer.runners import Runner, open_runner  # noqa: E402
from fst.infer.shipped import fast_variant  # noqa: E402
from fst.infer.stylize import DEFAULT_TEMPORAL, stylize_frames  # noqa: E402
from fst.infer.temporal import LIVE_FLOW, VIDEO_FLOW, TemporalBlender  # noqa: E402
from fst.infer.video import open_writer, read_frames, stylize_video  # noqa: E402
from fst.measure.flicker import warping_error  # noqa: E402

QUALITY_EVERY = 4  # S and C on frames 2, 6, 10, ...
CLIP_RATE = Fraction(25)


def machine() -> str:
    """CPU model (lscpu), cores, and the 1-minute load average now."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = re.search(r"Model name:\s*(.+)", lscpu)[1].strip()
    except (OSError, TypeError):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def write_clip(frames: list[np.ndarray], path: Path) -> Path:
    """(H, W, 3) uint8 RGB frames -> an H.264 file at CLIP_RATE (fst's own writer)."""
    height, width = frames[0].shape[:2]
    with open_writer(path, width, height, 1 / CLIP_RATE, CLIP_RATE) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, index)
    return path


def first_frames(video: Path, count: int, width: int) -> list[np.ndarray]:
    """The first ``count`` upright frames of ``video``, scaled (area average) to ``width`` px
    wide and an even height."""
    frames = []
    for frame in read_frames(video):
        height = 2 * round(frame.shape[0] * width / frame.shape[1] / 2)
        frames.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
        if len(frames) == count:
            break
    return frames


def farneback(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Farneback's optical flow of grey ``source`` towards ``target`` (the cross-check)."""
    return cv2.calcOpticalFlowFarneback(source, target, None, 0.5, 4, 15, 5, 7, 1.5, 0)


def stylized_run(runner: Runner, clip: Path, folder: Path, temporal: float) -> tuple[list, list, float]:
    """(input frames, output frames as encoded, frames per second) of one stylize_video call."""
    inputs, outputs = [], []

    def keep(rgb: np.ndarray, out: np.ndarray) -> None:
        inputs.append(rgb)
        outputs.append(out)

    started = time.perf_counter()
    stylize_video(
        runner, clip, folder / f"out_{temporal}.mp4", progress=False, temporal=temporal, observe=keep
    )
    return inputs, outputs, len(outputs) / (time.perf_counter() - started)


class Quality:
    """Mean S and C of output frames against a painting, photo = 256 px centre crop of the frame."""

    def __init__(self, painting: Path):
        import torch

        from fst.imageio import load_rgb
        from fst.loss.objective import image_to_tensor
        from fst.measure.quality import QualityMeter

        torch.set_num_threads(1)
        art = image_to_tensor(load_rgb(painting))
        self.meter = QualityMeter(art if art.ndim == 4 else art.unsqueeze(0))

    def __call__(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> tuple[float, float]:
        from PIL import Image

        from fst.train.data import resize_and_crop

        def crop(frame: np.ndarray):
            return resize_and_crop(Image.fromarray(frame), 256, None).unsqueeze(0)

        scores = [
            self.meter(crop(outputs[i]), crop(inputs[i])) for i in range(2, len(outputs), QUALITY_EVERY)
        ]
        return statistics.fmean(s["S"] for s in scores), statistics.fmean(s["C"] for s in scores)


def blended(inputs: list[np.ndarray], outputs: list[np.ndarray], strength: float) -> list[np.ndarray]:
    """The per-frame ``outputs`` blended as stylize_video blends them at ``strength``."""
    blender = TemporalBlender(strength)
    return [blender(frame, out) for frame, out in zip(inputs, outputs, strict=True)]


def clip_rows(args: argparse.Namespace, runner: Runner, quality: Quality, video: Path, folder: Path) -> dict:
    """Every measurement of one clip (see the module docstring)."""
    clip = write_clip(first_frames(video, args.frames, args.width), folder / f"{video.stem}.mp4")
    inputs, plain, plain_fps = stylized_run(runner, clip, folder, 0.0)
    _, smooth, smooth_fps = stylized_run(runner, clip, folder, args.temporal)
    assert all(
        np.array_equal(a, b) for a, b in zip(smooth, blended(inputs, plain, args.temporal), strict=True)
    )
    row = {"clip": video.name, "size": f"{inputs[0].shape[1]}x{inputs[0].shape[0]}", "frames": len(inputs)}
    for name, frames, fps in (("per_frame", plain, plain_fps), ("temporal", smooth, smooth_fps)):
        dis, farne = warping_error(inputs, frames), warping_error(inputs, frames, farneback)
        s, c = quality(inputs, frames)
        row[name] = {"E": dis.output_error, "E_farneback": farne.output_error, "S": s, "C": c, "fps": fps}
        row["input_E"], row["input_E_farneback"], row["cuts"] = dis.input_error, farne.input_error, dis.cuts
    row["sweep"] = {}
    for strength in args.sweep:
        frames = blended(inputs, plain, strength)
        s, c = quality(inputs, frames)
        row["sweep"][strength] = {"E": warping_error(inputs, frames).output_error, "S": s, "C": c}
    return row


def webcam_fps(args: argparse.Namespace, video: Path, folder: Path) -> dict:
    """fps of `fst webcam --fast` at 640x480, --temporal 0 vs --temporal T, the blending cost
    (ms per frame) and the warping errors of the live settings (LIVE_FLOW) on 48 frames."""
    frames = []
    for frame in read_frames(video):
        height, width = frame.shape[:2]
        side = min(width, height * 4 // 3)
        left = (width - side) // 2
        top = (height - side * 3 // 4) // 2
        crop = frame[top : top + side * 3 // 4, left : left + side]
        frames.append(cv2.resize(crop, (640, 480), interpolation=cv2.INTER_AREA))
        if len(frames) == args.webcam:
            break
    clip = write_clip(frames, folder / "cam640.mp4")
    command = [sys.executable, "-m", "fst.cli", "webcam", "-m", args.model, "--fast", "--source", str(clip)]
    results: dict[float, list[float]] = {0.0: [], args.temporal: []}
    for _ in range(args.rounds):
        for temporal in results:
            out = subprocess.run(
                [*command, "--no-display", "--temporal", str(temporal)], capture_output=True, text=True
            )
            results[temporal].append(float(re.search(r"frames at ([\d.]+) fps", out.stdout)[1]))
    blender = TemporalBlender(args.temporal, LIVE_FLOW)
    runner = open_runner(fast_variant(args.model))
    sample = frames[:48]
    styled = [stylize_frames(runner, frame[None])[0] for frame in sample]
    cost, smooth = [], []
    for frame, out in zip(sample, styled, strict=True):
        started = time.perf_counter()
        smooth.append(blender(frame, out))
        cost.append(time.perf_counter() - started)
    return {
        "clip": video.name,
        "fps": {str(k): v for k, v in results.items()},
        "blend_ms_median": 1000 * statistics.median(cost[1:]),
        "input_E": warping_error(sample, styled).input_error,
        "per_frame_E": warping_error(sample, styled).output_error,
        "temporal_E": warping_error(sample, smooth).output_error,
    }


def scene_cuts(video: Path, width: int) -> list[int]:
    """Indices of the frames of the whole ``video`` (scaled to ``width``) that start a new
    shot for the blending of `fst video` (fst.infer.flow.match at VIDEO_FLOW settings)."""
    estimator, previous, cuts = FlowEstimator(VIDEO_FLOW.preset), None, []
    for index, frame in enumerate(read_frames(video)):
        height = round(frame.shape[0] * width / frame.shape[1])
        small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        current = shrink(grey(small), VIDEO_FLOW.max_side)
        if previous is not None and match(previous, current, estimator).is_cut:
            cuts.append(index)
        previous = current
    return cuts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "video")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--painting", type=Path, default=ROOT / "fst" / "assets" / "starry_night.jpg")
    parser.add_argument("--temporal", type=float, default=DEFAULT_TEMPORAL)
    parser.add_argument("--sweep", type=lambda t: [float(x) for x in t.split(",") if x], default=[])
    parser.add_argument("--webcam", type=int, default=0, help="frames of the live-loop timing (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the live-loop timing")
    parser.add_argument("--cuts", action="store_true", help="only list the scene cuts of the whole clips")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    videos = sorted(args.videos.glob("*.mp4"))
    if args.cuts:
        for video in videos:
            print(f"{video.name}: scene cuts at frames {scene_cuts(video, args.width)}")
        return
    print(f"machine: {machine()}")
    runner, quality = open_runner(args.model, "auto", "cpu"), Quality(args.painting)
    report: dict = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "clips": []}
    with tempfile.TemporaryDirectory() as tmp:
        for video in videos:
            row = clip_rows(args, runner, quality, video, Path(tmp))
            report["clips"].append(row)
            print(json.dumps(row), flush=True)
        if args.webcam:
            report["webcam"] = webcam_fps(args, videos[0], Path(tmp))
    report["machine_end"] = machine()
    print_tables(report, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def print_tables(report: dict, args: argparse.Namespace) -> None:
    """The markdown tables of benchmarks/flicker.md."""
    print(
        f"\n| clip | size | input E | per-frame E | --temporal {args.temporal:g} E | ratio "
        "| S per-frame | S temporal | C per-frame | C temporal | fps per-frame | fps temporal |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in report["clips"]:
        a, b = row["per_frame"], row["temporal"]
        print(
            f"| {row['clip']} | {row['size']} | {row['input_E']:.4f} | {a['E']:.4f} | {b['E']:.4f} "
            f"| {b['E'] / a['E']:.2f} | {a['S']:.3f} | {b['S']:.3f} ({b['S'] / a['S'] - 1:+.0%}) "
            f"| {a['C']:.3f} | {b['C']:.3f} ({b['C'] / a['C'] - 1:+.0%}) | {a['fps']:.2f} | {b['fps']:.2f} |"
        )
    print("\nCross-check with Farneback flow (input / per-frame / temporal, ratio):\n")
    print("| clip | input E | per-frame E | temporal E | ratio |\n|---|---:|---:|---:|---:|")
    for row in report["clips"]:
        a, b = row["per_frame"]["E_farneback"], row["temporal"]["E_farneback"]
        print(f"| {row['clip']} | {row['input_E_farneback']:.4f} | {a:.4f} | {b:.4f} | {b / a:.2f} |")
    if args.sweep:
        print("\nStrength sweep (E ratio to per-frame, S and C change):\n")
        print("| clip | " + " | ".join(f"{s:g}" for s in args.sweep) + " |")
        print("|---|" + "---:|" * len(args.sweep))
        for row in report["clips"]:
            a = row["per_frame"]
            cells = [
                f"{v['E'] / a['E']:.2f} / {v['S'] / a['S'] - 1:+.0%} / {v['C'] / a['C'] - 1:+.0%}"
                for v in row["sweep"].values()
            ]
            print(f"| {row['clip']} | " + " | ".join(cells) + " |")
    if "webcam" in report:
        cam = report["webcam"]
        print(
            f"\nwebcam --fast 640x480 ({cam['clip']}): "
            + ", ".join(
                f"--temporal {k}: {statistics.median(v):.1f} fps (runs {', '.join(f'{x:.1f}' for x in v)})"
                for k, v in cam["fps"].items()
            )
            + f"; blending step alone {cam['blend_ms_median']:.1f} ms per frame; warping error of "
            f"the first 48 frames: input {cam['input_E']:.4f}, per-frame {cam['per_frame_E']:.4f}, "
            f"--temporal {args.temporal:g} {cam['temporal_E']:.4f} "
            f"(ratio {cam['temporal_E'] / cam['per_frame_E']:.2f})"
        )


if __name__ == "__main__":
    main()

"""Latency per frame (PyTorch eager vs ONNX Runtime) and peak memory of a 4K photo.

    python benchmarks/inference_latency.py [--repeats 5] [--output benchmarks/inference_latency.md]

1. Latency: the full paper network (TransformerNet(), width 32, 5 residual blocks; random
   weights: speed does not depend on them), batch 1, at 256x256, 512x512, 640x480 and
   1920x1080, through fst.infer.runners (PyTorch eager on the .safetensors file, ONNX Runtime on
   the file `fst export` writes), each on all cores and on one thread. All four are timed
   in interleaved rounds (fst.measure.bench.time_interleaved) and summarised by medians, so a
   machine that gets busier during the run slows all alike and the ratios stay meaningful.
2. Peak memory: `fst stylize` with the shipped starry_night on a 3840x2160 photo, each run
   in its own process, with the automatic tiling (ONNX Runtime: exact steps,
   fst.infer.staged; PyTorch: tiles with extrapolated statistics, fst.infer.tiling) and
   with --tile 0 (untiled); then `fst video` on a 4-frame 3840x2160 clip (default
   options, --temporal 0.8 included). The peak resident set size and CPU time of that
   process come from getrusage in a small wrapper process; the tiled photo is compared
   with the untiled one (mean and max |difference| in 1/255 of the 8-bit PNGs). A 64x64
   photo gives the fixed cost (libraries, model).

Importable: ``latency_rows`` and ``memory_rows`` return the table rows (dicts);
``latency_table`` and ``memory_table`` format them as markdown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = ((256, 256), (512, 512), (640, 480), (1920, 1080))
# Settings timed: all cores, and one thread (on a machine shared with other work, PyTorch's
# OpenMP threads can spend most of their time waiting on each other).
RUNTIMES = ("torch eager", "torch eager, 1 thread", "onnxruntime", "onnxruntime, 1 thread")
PHOTO_4K = (3840, 2160)
SMALL_PHOTO = (64, 64)


def paper_model(folder: Path) -> tuple[Path, Path]:
    """The full TransformerNet, seeded random weights -> (folder/johnson.safetensors, .onnx)."""
    import torch

    from fst.infer.export import export_onnx
    from fst.infer.model_file import save_model_file
    from fst.models.transformer import TransformerNet

    torch.manual_seed(0)
    weights, onnx_file = folder / "johnson.safetensors", folder / "johnson.onnx"
    if not onnx_file.is_file():
        save_model_file(TransformerNet(), weights, style="random", training={})
        export_onnx(weights, onnx_file)
    return weights, onnx_file


def latency_rows(folder: Path, sizes: Sequence[tuple[int, int]] = SIZES, repeats: int = 5) -> list[dict]:
    """Per (width, height) and RUNTIMES setting: median wall ms per frame, median CPU ms (all
    threads of this process), frames/s, GFLOP/s and the speed-up over eager PyTorch on all
    cores at that size (batch 1)."""
    import numpy as np

    from fst.infer.model_file import load_net
    from fst.measure.bench import flops_per_pixel, inference_calls, time_interleaved

    weights, onnx_file = paper_model(folder)
    net, _ = load_net(weights)
    flops = flops_per_pixel(net)
    rows = []
    for width, height in sizes:
        batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
        calls = inference_calls(net, onnx_file, batch)
        calls["torch eager, 1 thread"] = one_torch_thread(calls["torch eager"])
        timings = time_interleaved({name: calls[name] for name in RUNTIMES}, repeats)
        eager = timings["torch eager"].median
        for name, timing in timings.items():
            rows.append(
                {
                    "size": f"{width}x{height}",
                    "runtime": name,
                    "ms": 1000 * timing.median,
                    "cpu_ms": 1000 * timing.cpu_median,
                    "fps": 1 / timing.median,
                    "gflop_per_second": flops * width * height / timing.median / 1e9,
                    "speedup_vs_eager": eager / timing.median,
                    "all_seconds": timing.wall,
                }
            )
    return rows


def one_torch_thread(call: Callable[[], object]) -> Callable[[], object]:
    """``call`` run with PyTorch limited to one intra-op thread (restored afterwards)."""
    import torch

    def limited() -> object:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return call()
        finally:
            torch.set_num_threads(threads)

    return limited


def sample_photo(path: Path, size: tuple[int, int]) -> Path:
    """A bundled photo resized to ``size`` (w, h), saved as a JPEG at ``path``."""
    from PIL import Image

    from fst.imageio import list_images, load_rgb

    photo = list_images(ROOT / "fst" / "assets" / "photos")[0]
    load_rgb(photo).resize(size, Image.LANCZOS).save(path, quality=92)
    return path


# Runs a command and prints its peak RSS (KiB) and CPU seconds. A fresh, small process: Linux
# counts the memory a child had before exec (a copy of its parent) in its peak, so the
# parent must be small.
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "use = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(use.ru_maxrss, use.ru_utime + use.ru_stime, code)"
)


def peak_rss(command: Sequence[str]) -> tuple[float, float, int, int, str]:
    """Run ``command`` -> (wall seconds, CPU seconds, peak resident set size in bytes, exit
    code, stderr tail)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, *command], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    peak_kib, cpu, code = result.stdout.split()
    return seconds, float(cpu), int(peak_kib) * 1024, int(code), result.stderr.strip()[-300:]


def sample_clip(path: Path, photo: Path, frames: int = 4) -> Path:
    """An H.264 clip of ``frames`` frames: ``photo`` shifted by 8 px a frame."""
    import av
    import numpy as np
    from PIL import Image

    picture = np.asarray(Image.open(photo).convert("RGB"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        for i in range(frames):
            frame = np.ascontiguousarray(np.roll(picture, 8 * i, axis=1))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def difference(a: Path, b: Path) -> tuple[float, float]:
    """Mean and max |a - b| of two 8-bit images, in 1/255."""
    import numpy as np
    from PIL import Image

    diff = np.abs(np.asarray(Image.open(a), np.int16) - np.asarray(Image.open(b), np.int16))
    return float(diff.mean()), float(diff.max())


def memory_rows(folder: Path, runtimes: Sequence[str] = ("onnxruntime", "torch")) -> list[dict]:
    """Peak RSS, wall and CPU time of `fst stylize` (shipped starry_night) per runtime: a
    64x64 photo (fixed cost), a 3840x2160 photo tiled automatically and untiled (--tile 0),
    the tiled output's difference from the untiled one; `fst video` on a 4K clip."""
    small = sample_photo(folder / "small.jpg", SMALL_PHOTO)
    large = sample_photo(folder / "photo_4k.jpg", PHOTO_4K)
    clip = sample_clip(folder / "clip_4k.mp4", large)
    runs = [
        ("stylize", small, "untiled", []),
        ("stylize", large, "automatic tiling", []),
        ("stylize", large, "untiled", ["--tile", "0"]),
        ("video", clip, "automatic tiling, 4 frames", []),
    ]
    rows = []
    for runtime in runtimes:
        model = (
            ROOT
            / "checkpoints"
            / ("starry_night.onnx" if runtime == "onnxruntime" else "starry_night.safetensors")
        )
        outputs = {}
        for i, (command_name, source, mode, extra) in enumerate(runs):
            out = folder / f"out_{runtime}_{i}.{'mp4' if command_name == 'video' else 'png'}"
            target = [str(out)] if command_name == "video" else ["-o", str(out)]  # video: IN OUT
            command = [sys.executable, "-m", "fst.cli", command_name, str(source), *target]
            command += ["-m", str(model), "--runtime", runtime, "--device", "cpu", *extra]
            seconds, cpu, peak, code, tail = peak_rss(command)
            outputs[(command_name, source, mode)] = out
            w, h = SMALL_PHOTO if source == small else PHOTO_4K
            rows.append(
                {
                    "photo": f"{w}x{h}" + (" video" if command_name == "video" else ""),
                    "runtime": runtime,
                    "mode": mode,
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "peak_rss_gb": peak / 1e9,
                    "exit_code": code,
                    "error": tail.strip() if code else "",
                }
            )
        tiled, untiled = (
            outputs[("stylize", large, "automatic tiling")],
            outputs[("stylize", large, "untiled")],
        )
        if tiled.is_file() and untiled.is_file():
            row = next(r for r in rows if r["runtime"] == runtime and r["mode"] == "automatic tiling")
            row["mean_diff"], row["max_diff"] = difference(tiled, untiled)
    return rows


def latency_table(rows: list[dict]) -> str:
    """latency_rows as markdown."""
    lines = [
        "| size | runtime | ms/frame | CPU ms/frame | frames/s | GFLOP/s | speed-up vs eager |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['runtime']} | {r['ms']:.0f} | {r['cpu_ms']:.0f} | {r['fps']:.2f} | "
            f"{r['gflop_per_second']:.1f} | {r['speedup_vs_eager']:.2f}x |"
        )
    return "\n".join(lines) + "\n"


def memory_table(rows: list[dict]) -> str:
    """memory_rows as markdown."""
    lines = [
        "| input | runtime | mode | peak RSS | wall time | CPU time | vs untiled: mean, max (1/255) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        peak = f"{r['peak_rss_gb']:.2f} GB"
        if r["exit_code"]:
            peak = f"failed (exit {r['exit_code']}: {r['error'].splitlines()[-1]}) at {peak}"
        diff = f"{r['mean_diff']:.3f}, {r['max_diff']:.0f}" if "mean_diff" in r else ""
        lines.append(
            f"| {r['photo']} | {r['runtime']} | {r['mode']} | {peak} | {r['seconds']:.0f} s | "
            f"{r['cpu_seconds']:.0f} s | {diff} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per size (default 5)")
    parser.add_argument("--output", type=Path, help="also write the results (markdown) to this file")
    parser.add_argument("--only", choices=["latency", "memory"], help="run one of the two benchmarks")
    parser.add_argument(
        "--memory-runtimes",
        nargs="+",
        default=["onnxruntime", "torch"],
        choices=["onnxruntime", "torch"],
        help="runtimes of the 4K runs",
    )
    args = parser.parse_args(argv)

    from fst.measure.bench import machine, machine_line

    command = "python " + " ".join(
        [os.path.relpath(__file__, ROOT), *(argv if argv is not None else sys.argv[1:])]
    )
    before = machine()
    with tempfile.TemporaryDirectory(prefix="fst-latency-") as tmp:
        latency = [] if args.only == "memory" else latency_rows(Path(tmp), repeats=args.repeats)
        memory = [] if args.only == "latency" else memory_rows(Path(tmp), args.memory_runtimes)
    parts = [
        f"Command: `{command}`",
        f"{machine_line(before)} Load average {os.getloadavg()[0]:.1f} at the end; "
        f"{os.cpu_count()} CPUs (nproc).",
    ]
    if latency:
        parts += [
            f"Latency: full TransformerNet (width 32, 5 residual blocks), batch 1, median of "
            f"{args.repeats} interleaved rounds after one warm-up.",
            latency_table(latency),
        ]
    if memory:
        parts += [
            "Peak memory of `fst stylize`, one process per run (peak resident set size from getrusage):",
            memory_table(memory),
        ]
    text = "\n\n".join(parts)
    print(text)
    if args.output:
        from fst.imageio import atomic_path

        with atomic_path(args.output) as tmp:
            tmp.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

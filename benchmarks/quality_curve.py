"""Quality against training compute: S and C (fst.measure.quality) at every checkpoint of one run.

    python benchmarks/quality_curve.py --config configs/shipped.yaml --style PAINTING \\
        --data PHOTOS --steps 1500 --every 250 --out outputs/curve/starry_night \\
        [--data.image_size 128 ...]

Trains with ``train.py fit`` (the recipe as given, then any other option, e.g. a
``--model.*`` or ``--data.*`` override of one lever, plus ``--checkpoint_every``), copies
every periodic checkpoint as it appears together with the CPU seconds the training
process had used by then (Linux: /proc/PID/stat, the process and its threads), then runs
``fst evaluate CHECKPOINT --content HELD_OUT`` on each (``--iters``: L-BFGS checkpoints of
the equivalent-iterations measure; 1 measures S and C only). The held-out photos are the
first ``--held-out`` photos of PHOTOS by name, which the data module never trains on
(``--data.num_samples``). Writes OUT/curve.json and prints a markdown table:
step, CPU minutes, S, C, equivalent iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished (waited-for) child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(args: argparse.Namespace, overrides: list[str], run_dir: Path) -> list[dict]:
    """Run the training; returns [{"step", "cpu_s", "checkpoint"}] for each periodic checkpoint."""
    command = [sys.executable, str(ROOT / "train.py"), "fit", *[f"--config={c}" for c in args.config]]
    command += ["--model.style_image", str(args.style), "--data.root", str(args.data)]
    command += ["--data.num_samples", str(args.held_out), "--trainer.max_steps", str(args.steps)]
    command += ["--checkpoint_every", str(args.every), "--run_name", "curve"]
    command += ["--trainer.default_root_dir", str(run_dir), "--trainer.enable_progress_bar", "false"]
    command += overrides
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    folder, kept, points = run_dir / "checkpoints" / "curve", args.out / "checkpoints", []
    kept.mkdir(parents=True, exist_ok=True)
    while True:
        finished = process.poll() is not None
        used = children_cpu_seconds() if finished else cpu_seconds(process.pid)
        for ckpt in sorted(folder.glob("step*.ckpt")) if folder.is_dir() else []:
            if not (kept / ckpt.name).exists():
                shutil.copy2(ckpt, kept / ckpt.name)
                step = int(ckpt.stem[4:])
                points.append({"step": step, "cpu_s": used, "checkpoint": str(kept / ckpt.name)})
        if finished:
            break
        time.sleep(1.0)
    if process.returncode:
        raise SystemExit(f"training failed (exit {process.returncode}): {' '.join(command)}")
    return points


def evaluate(point: dict, held_out: Path, iters: list[int], style: str | None) -> dict:
    """S, C and equivalent iterations of one checkpoint on the held-out photos (medians);
    ``style``: the style of a multi-style network to measure (None: its first)."""
    report = Path(point["checkpoint"]).with_suffix(".eval.json")
    command = [sys.executable, "-m", "fst.cli", "evaluate", point["checkpoint"], "--content", str(held_out)]
    command += ["--iters", *map(str, iters), "--json", str(report)]
    command += ["--style", style] if style else []
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads(report.read_text())["summary"]
    return {
        **point,
        "S": summary["style_distance_median"],
        "C": summary["content_distance_median"],
        "equivalent_iterations": summary["equivalent_iterations_median"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", required=True, help="training recipe(s), in order")
    parser.add_argument("--style", type=Path, required=True, help="the painting")
    parser.add_argument("--data", type=Path, required=True, help="folder of photos")
    parser.add_argument("--held-out", type=int, default=4, help="first N photos: never trained on")
    parser.add_argument("--steps", type=int, required=True, help="training steps")
    parser.add_argument("--every", type=int, required=True, help="steps between measured checkpoints")
    parser.add_argument("--iters", type=int, nargs="+", default=[50, 100], help="L-BFGS checkpoints")
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints and results")
    parser.add_argument("--measure-style", help="the style of a multi-style network to measure (e.g. with "
                        "--model.extend: the new painting's name)")  # fmt: skip
    args, overrides = parser.parse_known_args()
    photos = sorted(p for p in args.data.iterdir() if p.is_file() and not p.name.startswith("."))
    with tempfile.TemporaryDirectory() as scratch:
        held_out = Path(scratch) / "held_out"
        held_out.mkdir()
        for photo in photos[: args.held_out]:
            (held_out / photo.name).symlink_to(photo.resolve())
        points = train(args, overrides, Path(scratch) / "run")
        rows = [evaluate(point, held_out, args.iters, args.measure_style) for point in points]
    (args.out / "curve.json").write_text(json.dumps({"command": sys.argv, "points": rows}, indent=2))
    print("| step | CPU minutes | S | C | equivalent iterations |\n|---:|---:|---:|---:|---:|")
    for row in rows:
        iterations = "?" if row["equivalent_iterations"] is None else f"{row['equivalent_iterations']:.0f}"
        print(f"| {row['step']} | {row['cpu_s'] / 60:.1f} | {row['S']:.3f} | {row['C']:.3f} | {iterations} |")


if __name__ == "__main__":
    main()

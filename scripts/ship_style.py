#!/usr/bin/env python3
"""Package a finished training run as a shipped style in checkpoints/ (see fst.shipped).

    python scripts/ship_style.py starry_night --title "The Starry Night" \
        --artist "Vincent van Gogh" --year 1889 [--evaluation EVAL.json]

Reads the run's inference file ``checkpoints/NAME/NAME.safetensors`` and its
TensorBoard folders ``runs/NAME/version_*/`` (the resolved config and the event times),
and writes ``checkpoints/NAME.onnx`` (fp32, verified against PyTorch by fst.export),
``checkpoints/NAME.safetensors`` (fp16 weights) and ``checkpoints/NAME.json`` (the
recipe: painting, configs, training settings, wall time, machine and, with
``--evaluation``, the summary of ``fst evaluate``'s JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fst.export import export_onnx
from fst.imageio import atomic_path
from fst.model_file import load_model_file, save_model_file

ROOT = Path(__file__).resolve().parent.parent
RECIPE_KEYS = ("content_weight", "style_weight", "tv_weight", "style_loss", "style_size", "width",
               "num_res_blocks", "arch", "lr", "content_layer", "style_layers")  # fmt: skip


def log_dirs(name: str) -> list[Path]:
    """The run's TensorBoard folders, oldest first (a resumed run adds one)."""
    versions = sorted((ROOT / "runs" / name).glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    if not versions:
        raise SystemExit(f"runs/{name}: no TensorBoard run found")
    return versions


def wall_time_s(log_dir: Path) -> float:
    """Seconds from the first to the last training loss logged in ``log_dir`` (0 if none)."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    if "loss/total" not in events.Tags()["scalars"]:
        return 0.0
    times = [event.wall_time for event in events.Scalars("loss/total")]
    return times[-1] - times[0]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    return f"{os.cpu_count()}-core CPU ({cpu}), torch {torch.__version__}"


def recipe(name: str, args: argparse.Namespace, info: dict, logs: list[Path]) -> dict:
    config = yaml.safe_load((logs[0] / "config.yaml").read_text())
    trained = info["training"]
    result = {
        "name": name,
        "painting": {
            "title": args.title,
            "artist": args.artist,
            "year": args.year,
            "file": Path(config["model"]["style_image"]).name,
        },
        "command": f"python train.py fit --config configs/shipped.yaml --config configs/styles/{name}.yaml",
        "training": {
            "steps": trained["steps"],
            "image_size": trained["image_size"],
            "batch_size": trained["batch_size"],
            "precision": config["trainer"]["precision"] or "32-true",
            **{key: trained[key] for key in RECIPE_KEYS if key in trained},
            "wall_time_s": round(sum(wall_time_s(log_dir) for log_dir in logs)),
            "device": machine(),
            "note": args.note,
        },
    }
    if args.evaluation:
        report = json.loads(args.evaluation.read_text())
        result["evaluation"] = {
            "command": args.evaluation_command,
            "size": report["size"],
            "photos": [Path(image["image"]).name for image in report["images"]],
            **report["summary"],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the run name (configs/styles/NAME.yaml)")
    parser.add_argument("--title", required=True)
    parser.add_argument("--artist", required=True)
    parser.add_argument("--year", required=True)
    parser.add_argument("--note", default="", help="anything else about the run")
    parser.add_argument("--evaluation", type=Path, help="JSON written by `fst evaluate` for this model")
    parser.add_argument("--evaluation-command", default="", help="the fst evaluate command that wrote it")
    args = parser.parse_args()

    source = ROOT / "checkpoints" / args.name / f"{args.name}.safetensors"
    net, info = load_model_file(source)
    target = ROOT / "checkpoints" / args.name
    weights = target.with_suffix(".safetensors")
    save_model_file(net, weights, style=info["style"], training=info["training"], half=True)
    report = export_onnx(source, target.with_suffix(".onnx"))
    print(report)
    with atomic_path(target.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(recipe(args.name, args, info, log_dirs(args.name)), indent=2) + "\n")
    for suffix in (".onnx", ".safetensors", ".json"):
        path = target.with_suffix(suffix)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

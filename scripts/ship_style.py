#!/usr/bin/env python3
"""Package a finished training run as a shipped style in checkpoints/ (see fst.infer.shipped).

    python scripts/ship_style.py starry_night --title "The Starry Night" \
        --artist "Vincent van Gogh" --year 1889 [--evaluation EVAL.json]
    python scripts/ship_style.py starry_night --reexport
    python scripts/ship_style.py eight_styles          # a multi-style run: no painting details

Reads the run's inference file ``checkpoints/NAME/NAME.safetensors`` and its
TensorBoard folders ``runs/NAME/version_*/`` (the resolved config and the event times),
and writes ``checkpoints/NAME.onnx`` (fp32, verified against PyTorch by fst.infer.export),
``checkpoints/NAME.safetensors`` (fp16 weights) and ``checkpoints/NAME.json`` (the
recipe: painting, configs, training settings, wall time, machine and, with
``--evaluation``, the summary of ``fst evaluate``'s JSON). Both model files are written
in the current format (fst.infer.metadata) with the objective (LossConfig settings) and
the style image as training saw it (at style_size, PNG).

``--reexport`` rewrites the model files of an already shipped style in the current format
from its fp32 ``checkpoints/NAME.onnx`` (the weights are its initializers, unchanged),
keeps the recipe, and checks that the new ONNX gives the old one's pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
import yaml
from onnx import numpy_helper
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from fst.imageio import atomic_path, load_rgb
from fst.infer.export import export_onnx
from fst.infer.metadata import ModelInfo
from fst.infer.model_file import build_network, check_tensors, load_model_file, save_model_file
from fst.infer.runners import OnnxRuntimeRunner
from fst.loss.config import LossConfig
from fst.loss.objective import style_png

ROOT = Path(__file__).resolve().parent.parent
NETWORK_KEYS = ("width", "num_res_blocks", "arch", "lr")  # beside the objective (LossConfig)
PHOTO = ROOT / "fst/assets/photos/coco_000000000785.jpg"
REEXPORT_TOLERANCE = 1e-5  # same weights, same runtime: float32 rounding only


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


def recipe(name: str, args: argparse.Namespace, info: ModelInfo, logs: list[Path]) -> dict:
    config = yaml.safe_load((logs[0] / "config.yaml").read_text())
    trained = info.training
    paintings = config["model"]["style_image"]
    if info.styles:  # one network, several paintings: its styles, in the order of the weights
        art = {"paintings": {"folder": Path(paintings).name, "styles": list(info.styles)}}
    else:
        art = {"painting": {"title": args.title, "artist": args.artist, "year": args.year,
                            "file": Path(paintings).name}}  # fmt: skip
    result = {
        "name": name,
        **art,
        "command": f"python train.py fit --config configs/shipped.yaml --config configs/styles/{name}.yaml "
        f"--model.style_image {config['model']['style_image']} --data.root {config['data']['root']}",
        "training": {
            "steps": trained["steps"],
            "image_size": trained["image_size"],
            "batch_size": trained["batch_size"],
            "precision": config["trainer"]["precision"] or "32-true",
            **LossConfig.from_dict(info.objective, name).to_dict(),
            **{key: trained[key] for key in NETWORK_KEYS if key in trained},
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


def write_model_files(net: nn.Module, info: ModelInfo, target: Path) -> None:
    """``target``.safetensors (fp16) and ``target``.onnx (fp32, verified), with the objective
    and the style image (the stored one, else the training's painting at style_size)."""
    objective = LossConfig.from_dict(info.objective, str(target)).to_dict()
    images = info.style_images or (style_png(ROOT / info.training["style_image"], objective["style_size"]),)
    described = dict(
        style=info.style, training=info.training, objective=objective, style_images=images, styles=info.styles
    )
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / f"{target.name}.safetensors"  # the fp32 weights export reads
        save_model_file(net, full, **described)
        print(export_onnx(full, target.with_suffix(".onnx")))
    save_model_file(net, target.with_suffix(".safetensors"), half=True, **described)


def net_from_onnx(path: Path) -> tuple[nn.Module, ModelInfo]:
    """The network whose weights are the initializers of a shipped fp32 ONNX file (named
    like its state_dict), and the file's ModelInfo."""
    info = OnnxRuntimeRunner(path, "cpu").info
    net = build_network(info.arch, path)
    names = set(net.state_dict())
    arrays = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    weights = {name: torch.from_numpy(array.copy()) for name, array in arrays.items() if name in names}
    check_tensors({k: tuple(v.shape) for k, v in weights.items()}, net, path)
    net.load_state_dict(weights)
    return net.eval(), info


def reexport(name: str) -> None:
    """Rewrite checkpoints/NAME.{onnx,safetensors} in the current format from NAME.onnx;
    they replace the old files only if the new ONNX gives the old one's pixels (the runner
    adds the margin to old files) on the bundled photo at 203x137."""
    target = ROOT / "checkpoints" / name
    net, info = net_from_onnx(target.with_suffix(".onnx"))
    photo = np.asarray(load_rgb(PHOTO).resize((203, 137)), dtype=np.float32).transpose(2, 0, 1)[None] / 255
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / name
        write_model_files(net, info, staged)
        new, old = (OnnxRuntimeRunner(path.with_suffix(".onnx"), "cpu")(photo) for path in (staged, target))
        diff = float(np.abs(new - old).max())
        print(f"{name}: new vs shipped ONNX on a 203x137 photo: max abs diff {diff:.2e}")
        if diff > REEXPORT_TOLERANCE:
            raise SystemExit(f"{name}: the re-exported model differs from the shipped one; nothing replaced")
        for suffix in (".onnx", ".safetensors"):
            os.replace(staged.with_suffix(suffix), target.with_suffix(suffix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the run name (configs/styles/NAME.yaml)")
    parser.add_argument("--reexport", action="store_true", help="rewrite a shipped style's model files")
    parser.add_argument("--title", help="the painting's title (single-style networks)")
    parser.add_argument("--artist")
    parser.add_argument("--year")
    parser.add_argument("--note", default="", help="anything else about the run")
    parser.add_argument("--evaluation", type=Path, help="JSON written by `fst evaluate` for this model")
    parser.add_argument("--evaluation-command", default="", help="the fst evaluate command that wrote it")
    args = parser.parse_args()
    target = ROOT / "checkpoints" / args.name
    if args.reexport:
        reexport(args.name)
    else:
        net, info = load_model_file(target / f"{args.name}.safetensors")
        if not info.styles and not (args.title and args.artist and args.year):
            parser.error("--title, --artist and --year are required (unless --reexport or several styles)")
        write_model_files(net, info, target)
        with atomic_path(target.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(recipe(args.name, args, info, log_dirs(args.name)), indent=2) + "\n")
    for suffix in (".onnx", ".safetensors", ".json"):
        path = target.with_suffix(suffix)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

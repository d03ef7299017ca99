"""``fst export MODEL -o model.onnx [--fp16]``: ONNX export, checked and verified."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Export a trained model (.ckpt or .safetensors) to one self-contained ONNX file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="Lightning checkpoint (.ckpt) or inference file")
    parser.add_argument("-o", "--output", type=Path, help="the .onnx to write (default: MODEL with .onnx)")
    parser.add_argument("--fp16", action="store_true", help="float16 maths, float32 I/O (GPU runtimes)")


def run(args: argparse.Namespace) -> int:
    from fst.errors import FstError

    output = args.output or args.model.with_suffix(".onnx")
    if output.suffix.lower() != ".onnx":
        raise FstError(f"{output}: the output file must end in .onnx")
    if output.resolve() == args.model.resolve():
        raise FstError(f"{output}: refusing to overwrite the input model")

    from fst.infer.export import OPSET, export_onnx

    report = export_onnx(args.model, output, fp16=args.fp16)
    print(f"wrote {report.path} (opset {OPSET}, {report.precision}, {report.size_bytes / 1e6:.1f} MB)")
    shape = "x".join(map(str, report.verify_shape))
    print(
        f"verified against PyTorch on a {shape} input with onnxruntime: "
        f"max abs diff {report.max_abs_diff:.2e} (limit {report.tolerance:g})"
    )
    return 0

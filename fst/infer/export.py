"""Export a trained TransformerNet to one self-contained ONNX file and verify it.

The exported graph (torch.onnx.export with ``dynamo=True``, opset 20) has one input
``image`` and one output ``stylized``: float32 NCHW RGB in [0, 1], batch, height and
width dynamic (any height and width >= 8). The whole inference contract of the network's
eval-mode forward is part of the graph: the reflected border margin
(fst.models.base.StyleNet), the padding to the network's size multiple and the crops
back, so plain onnxruntime gives the pixels of ``fst stylize``. ``--fp16`` stores weights
and computes in float16 but keeps the float32 input and output, so callers never change.

A network holding S > 1 styles (fst.models.conditional) gets a second input ``style``:
float32 mixing weights of shape (S,), one per style in the order of the ``styles``
metadata; the graph mixes every instance norm's scale and shift with them, so plain
onnxruntime mixes styles: ``session.run(None, {"image": x, "style": w})``.

Metadata (ONNX metadata_props, all strings): ``format`` (fst.infer.runners.META_FORMAT),
``format_version`` (fst.infer.metadata.FORMAT_VERSION), ``style``, ``arch`` (JSON),
``training`` (JSON), ``objective`` (JSON), ``style_images`` (JSON list of base64 PNGs),
``precision`` (fp32 | fp16), ``input`` and ``output`` (the I/O contract in words),
``producer``; for S > 1 styles also ``styles`` (JSON list of names) and ``style_input``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from fst import __version__
from fst.errors import FstError
from fst.imageio import atomic_path
from fst.infer.metadata import ModelInfo, describe
from fst.infer.model_file import load_net
from fst.infer.runners import INPUT_NAME, META_FORMAT, OUTPUT_NAME, STYLE_NAME, OnnxRuntimeRunner

OPSET = 20
VERIFY_SHAPE = (1, 3, 67, 45)  # non-square, odd: exercises the margin and the pad-and-crop path
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}
CONTRACT = "float32 NCHW RGB in [0, 1]; N, H, W dynamic, H and W >= 8; output has the input's shape"
STYLE_CONTRACT = "float32 (S,) mixing weights, one per name in 'styles' (one-hot: one style)"


class HalfPrecision(nn.Module):
    """Runs ``net`` in float16 between float32 input and output: (N, 3, H, W) -> same;
    ``style``: the (S,) float32 mixing weights of a multi-style ``net``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.half()

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.half(), style).float()


@dataclass(frozen=True)
class ExportReport:
    """What `fst export` did: where, how big, and how close ONNX Runtime is to PyTorch."""

    path: Path
    precision: str
    size_bytes: int
    verify_shape: tuple[int, ...]
    max_abs_diff: float
    tolerance: float


def export_onnx(model: str | os.PathLike, output: str | os.PathLike, fp16: bool = False) -> ExportReport:
    """Export ``model`` (.ckpt or .safetensors) to ``output`` (.onnx), check and verify it.

    The file is written atomically: if onnx.checker or the comparison against PyTorch
    fails (max |onnx - torch| >= TOLERANCE on a VERIFY_SHAPE input), nothing is left.
    """
    output = Path(output)
    net, info = load_net(model)
    precision = "fp16" if fp16 else "fp32"
    proto = _trace(HalfPrecision(copy.deepcopy(net)) if fp16 else net, net.config.num_styles)
    _name_output_dims(proto)
    _set_metadata(proto, info, precision, output)
    with atomic_path(output) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)
        try:
            onnx.checker.check_model(str(tmp), full_check=True)
        except onnx.checker.ValidationError as exc:
            reason = str(exc).splitlines()[0]
            raise FstError(f"{output}: exported graph fails onnx.checker ({reason})") from None
        diff = _max_abs_diff(net, tmp)
        if not diff < TOLERANCE[precision]:
            raise FstError(
                f"{output}: ONNX Runtime differs from PyTorch by {diff:.3g} "
                f"(limit {TOLERANCE[precision]:g}); nothing written"
            )
        size = tmp.stat().st_size
    return ExportReport(output, precision, size, VERIFY_SHAPE, diff, TOLERANCE[precision])


def _trace(module: nn.Module, num_styles: int = 1) -> onnx.ModelProto:
    """torch.onnx dynamo export with dynamic batch, height and width -> ModelProto; with
    ``num_styles`` > 1 the (num_styles,) style weights are a second input."""
    dims = {
        0: torch.export.Dim("batch", min=1),
        2: torch.export.Dim("height", min=8),
        3: torch.export.Dim("width", min=8),
    }
    image = (torch.rand(VERIFY_SHAPE), INPUT_NAME, dims)
    style = (torch.full((num_styles,), 1 / num_styles), STYLE_NAME, None)  # fixed shape (S,)
    example, names, shapes = zip(*([image, style] if num_styles > 1 else [image]), strict=True)
    try:
        program = torch.onnx.export(
            module.eval(),
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=list(names),
            output_names=[OUTPUT_NAME],
            dynamic_shapes=shapes,
            external_data=False,
            verbose=False,
        )
    except Exception as exc:  # the exporter raises many types; the user needs one line
        raise FstError(f"ONNX export failed ({str(exc).splitlines()[0]})") from None
    return program.model_proto


def _name_output_dims(proto: onnx.ModelProto) -> None:
    """Give the output the image input's symbolic dims (the exporter writes Min(...) formulas)."""
    inp, (out,) = proto.graph.input[0], proto.graph.output
    for src, dst in zip(inp.type.tensor_type.shape.dim, out.type.tensor_type.shape.dim, strict=True):
        dst.CopyFrom(src)


def _set_metadata(proto: onnx.ModelProto, info: ModelInfo, precision: str, output: Path) -> None:
    """Write the style, architecture, training settings, objective, style images and I/O
    contract into the file."""
    meta = {
        "format": META_FORMAT,
        **describe(info, f"fst {__version__}", output),
        "precision": precision,
        "input": f"{INPUT_NAME}: {CONTRACT}",
        "output": f"{OUTPUT_NAME}: {CONTRACT}",
    }
    styles = ""
    if info.styles:
        meta["style_input"] = f"{STYLE_NAME}: {STYLE_CONTRACT}"
        styles = f" (styles {', '.join(info.styles)}; input {STYLE_NAME}: {STYLE_CONTRACT})"
    onnx.helper.set_model_props(proto, meta)
    proto.producer_name, proto.producer_version = "fst", __version__
    proto.doc_string = f"fst style transfer network, style '{meta['style']}'{styles}: {CONTRACT}"


def _max_abs_diff(net: nn.Module, onnx_path: Path) -> float:
    """max |ONNX Runtime - PyTorch fp32| on a seeded VERIFY_SHAPE input (and, for a
    multi-style network, a seeded mix of all its styles)."""
    rng = np.random.default_rng(0)
    batch = rng.random(VERIFY_SHAPE, dtype=np.float32)
    mix = rng.random(net.config.num_styles, dtype=np.float32)
    mix /= mix.sum()
    with torch.inference_mode():
        expected = net.float()(torch.from_numpy(batch), torch.from_numpy(mix)).numpy()
    got = OnnxRuntimeRunner(onnx_path, device="cpu")(batch, style=mix)
    if got.shape != expected.shape:
        raise FstError(f"exported graph returns shape {got.shape} for input {VERIFY_SHAPE}")
    return float(np.abs(got - expected).max())

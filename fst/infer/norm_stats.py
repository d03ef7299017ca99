"""Whole-image instance-norm statistics, so tiles can be stylized like the whole image.

Instance normalisation computes a per-channel mean and variance over each input's own
height and width, so a tile run on its own gets its own statistics and a different
tone. The fix: measure every instance-norm layer's statistics for the whole image,
then run each tile with those statistics fixed:

    norm(x) = (x - mean) / sqrt(var + eps) * scale + bias        mean, var: (N, C, 1, 1)

Statistics (NormStats) are a list with one (mean, var) pair per instance-norm layer, in
execution order, each a float32 array of shape (N, C, 1, 1) (N = 1: shared by a batch).
The rewritten ONNX graphs take each layer's moments over a *window* of its input:
(top, left, bottom, right) in that layer's pixels, ends clipped to its size (WHOLE: all
of it), and output the window's shape too, so that tiles with overlapping context can
add up the moments of the parts they own (fst.infer.staged).

Two backends, one meaning. PyTorch: forward hooks on nn.InstanceNorm2d and on the
conditional norms of multi-style networks (torch is imported only inside those
functions). ONNX (ONNX Runtime and OpenCV DNN): rewritten copies of the exported graph.
Both a *record* pass (each norm layer's input moments as extra outputs) and a *fixed*
pass (norm layers read mean/var from extra inputs, and still record their input
moments) exist in both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # onnx is imported only where a graph is rewritten
    import onnx

NormStats = list[tuple[np.ndarray, np.ndarray]]
Window = tuple[int, int, int, int]  # top, left, bottom, right (layer pixels; ends clipped)
WHOLE: Window = (0, 0, 2**62, 2**62)

# Extra graph inputs (fixed statistics; the moments' window) and outputs (recorded moments
# and the window's (N, C, h, w) shape) of layer i.
FIXED_MEAN, FIXED_VAR = "norm_mean_{}", "norm_var_{}"
WINDOW_START, WINDOW_END = "moment_start_{}", "moment_end_{}"
MOMENT_MEAN, MOMENT_VAR, MOMENT_SHAPE = "moment_mean_{}", "moment_var_{}", "moment_shape_{}"


def extrapolate(coarse: NormStats, coarse_scale: float, fine: NormStats, fine_scale: float) -> NormStats:
    """Estimate full-resolution (scale 1) statistics from two downscaled measurements.

    Per channel, the mean is extrapolated linearly and the variance log-linearly in
    log(scale): x(1) = x_f + (x_f - x_c) * log(1 / s_f) / log(s_f / s_c).
    coarse_scale < fine_scale < 1 are the image scales the statistics were measured at.
    """
    step = np.log(1.0 / fine_scale) / np.log(fine_scale / coarse_scale)
    out = []
    for (mean_c, var_c), (mean_f, var_f) in zip(coarse, fine, strict=True):
        mean = mean_f + (mean_f - mean_c) * step
        log_var_c, log_var_f = np.log(var_c + 1e-12), np.log(var_f + 1e-12)
        var = np.exp(log_var_f + (log_var_f - log_var_c) * step)
        out.append((mean.astype(np.float32), var.astype(np.float32)))
    return out


# --------------------------------------------------------------------------- PyTorch


@contextlib.contextmanager
def torch_hooks(net, fixed: NormStats | None = None) -> Iterator[NormStats]:
    """Within the block, ``net``'s forward passes record each norm layer's input moments
    into the yielded list and, with ``fixed``, normalise with those statistics instead."""
    import torch

    from fst.models.conditional import ConditionalInstanceNorm2d

    norms = [m for m in net.modules() if isinstance(m, (torch.nn.InstanceNorm2d, ConditionalInstanceNorm2d))]
    if fixed is not None and len(fixed) != len(norms):
        raise ValueError(f"{len(fixed)} statistics for {len(norms)} instance-norm layers")
    position = {id(m): i for i, m in enumerate(norms)}
    recorded: NormStats = []

    def hook(module, inputs, output):
        x = inputs[0]
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
        recorded.append((mean.float().cpu().numpy(), var.float().cpu().numpy()))
        if fixed is None:
            return None
        mean, var = (torch.from_numpy(a).to(x.device, x.dtype) for a in fixed[position[id(module)]])
        out = (x - mean) / torch.sqrt(var + module.eps)
        if isinstance(module, ConditionalInstanceNorm2d):  # inputs: (x, style weights)
            scale, shift = module.mix(inputs[1])  # (C,) or (N, C)
        elif module.affine:
            scale, shift = module.weight, module.bias
        else:
            return out
        return out * scale[..., None, None] + shift[..., None, None]

    handles = [m.register_forward_hook(hook) for m in norms]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------- ONNX


def count_norms(model: onnx.ModelProto) -> int:
    """How many instance-norm layers the graph has (= the length of its statistics)."""
    return sum(n.op_type == "InstanceNormalization" for n in model.graph.node)


def moment_names(count: int) -> list[str]:
    """Extra outputs of the rewritten graphs in order: mean_0, var_0, mean_1, var_1, ..."""
    return [name.format(i) for i in range(count) for name in (MOMENT_MEAN, MOMENT_VAR)]


def window_feed(windows: list[Window] | None, count: int) -> dict[str, np.ndarray]:
    """The window inputs of a rewritten graph with ``count`` norm layers (None: whole)."""
    windows = windows or [WHOLE] * count
    if len(windows) != count:
        raise ValueError(f"{len(windows)} windows for {count} instance-norm layers")
    feed = {}
    for index, (top, left, bottom, right) in enumerate(windows):
        feed[WINDOW_START.format(index)] = np.array([top, left], dtype=np.int64)
        feed[WINDOW_END.format(index)] = np.array([bottom, right], dtype=np.int64)
    return feed


def fixed_feed(stats: NormStats, batch: int) -> dict[str, np.ndarray]:
    """Extra inputs of ``rewrite(model, fixed=True)`` for a batch of ``batch`` images."""
    feed = {}
    for index, pair in enumerate(stats):
        for name, array in zip((FIXED_MEAN, FIXED_VAR), pair, strict=True):
            shared = np.broadcast_to(array, (batch, *array.shape[1:]))
            feed[name.format(index)] = np.ascontiguousarray(shared, dtype=np.float32)
    return feed


def rewrite(model: onnx.ModelProto, fixed: bool) -> onnx.ModelProto:
    """A copy of ``model`` that outputs every norm layer's input moments over a window
    (inputs WINDOW_*, outputs MOMENT_*) and, with ``fixed``, normalises with statistics
    from extra inputs (FIXED_*)."""
    import onnx
    from onnx import helper

    model_copy = type(model)()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    axes, shape_c11 = "norm_axes_hw", "norm_shape_c11"
    graph.initializer.extend([
        helper.make_tensor(axes, onnx.TensorProto.INT64, [2], [2, 3]),
        helper.make_tensor(shape_c11, onnx.TensorProto.INT64, [3], [-1, 1, 1]),
    ])  # fmt: skip
    dtypes = {init.name: init.data_type for init in graph.initializer}
    nodes, index = [], 0
    for node in graph.node:
        if node.op_type != "InstanceNormalization":
            nodes.append(node)
            continue
        x, scale, bias = node.input
        elem = dtypes.get(scale, onnx.TensorProto.FLOAT)  # FLOAT16 in fp16 exports
        t = {part: f"norm_{index}_{part}" for part in ("seen", "mean", "centered", "squared", "var")}
        start, end = WINDOW_START.format(index), WINDOW_END.format(index)
        nodes += [  # the window's moments, in the layer's precision, output as float32
            helper.make_node("Slice", [x, start, end, axes], [t["seen"]]),
            helper.make_node("Shape", [t["seen"]], [MOMENT_SHAPE.format(index)]),
            helper.make_node("ReduceMean", [t["seen"], axes], [t["mean"]], keepdims=1),
            helper.make_node("Sub", [t["seen"], t["mean"]], [t["centered"]]),
            helper.make_node("Mul", [t["centered"], t["centered"]], [t["squared"]]),
            helper.make_node("ReduceMean", [t["squared"], axes], [t["var"]], keepdims=1),
            helper.make_node("Cast", [t["mean"]], [MOMENT_MEAN.format(index)], to=onnx.TensorProto.FLOAT),
            helper.make_node("Cast", [t["var"]], [MOMENT_VAR.format(index)], to=onnx.TensorProto.FLOAT),
        ]
        graph.output.extend(_stats_value_info(index, MOMENT_MEAN, MOMENT_VAR))
        graph.output.append(
            helper.make_tensor_value_info(MOMENT_SHAPE.format(index), onnx.TensorProto.INT64, [4])
        )
        graph.input.extend(
            helper.make_tensor_value_info(name.format(index), onnx.TensorProto.INT64, [2])
            for name in (WINDOW_START, WINDOW_END)
        )
        if fixed:
            nodes += _fixed_norm_nodes(index, node, elem, shape_c11)
            graph.input.extend(_stats_value_info(index, FIXED_MEAN, FIXED_VAR))
        else:
            nodes.append(node)
        index += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return model_copy


def _fixed_norm_nodes(index: int, node: onnx.NodeProto, elem: int, shape_c11: str) -> list[onnx.NodeProto]:
    """InstanceNormalization(x, scale, bias) rewritten to use the FIXED_* inputs of ``index``.

    Folded into per-channel factors first, so only two full-size operations remain:
    y = x * gain + shift, gain = scale / sqrt(var + eps), shift = bias - mean * gain.
    """
    from onnx import helper

    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    x, scale, bias = node.input
    parts = ("eps", "fixed_mean", "fixed_var", "var_eps", "std", "scale", "bias", "gain", "offset", "shift")
    parts += ("scaled",)
    t = {part: f"norm_{index}_{part}" for part in parts}
    return [
        helper.make_node("Constant", [], [t["eps"]], value=helper.make_tensor(t["eps"], elem, [], [eps])),
        helper.make_node("Cast", [FIXED_MEAN.format(index)], [t["fixed_mean"]], to=elem),
        helper.make_node("Cast", [FIXED_VAR.format(index)], [t["fixed_var"]], to=elem),
        helper.make_node("Add", [t["fixed_var"], t["eps"]], [t["var_eps"]]),
        helper.make_node("Sqrt", [t["var_eps"]], [t["std"]]),
        helper.make_node("Reshape", [scale, shape_c11], [t["scale"]]),
        helper.make_node("Reshape", [bias, shape_c11], [t["bias"]]),
        helper.make_node("Div", [t["scale"], t["std"]], [t["gain"]]),  # (N, C, 1, 1)
        helper.make_node("Mul", [t["fixed_mean"], t["gain"]], [t["offset"]]),
        helper.make_node("Sub", [t["bias"], t["offset"]], [t["shift"]]),
        helper.make_node("Mul", [x, t["gain"]], [t["scaled"]]),  # full size from here
        helper.make_node("Add", [t["scaled"], t["shift"]], [node.output[0]]),
    ]


def _stats_value_info(index: int, mean_name: str, var_name: str) -> list[onnx.ValueInfoProto]:
    """Graph inputs/outputs carrying layer ``index``'s statistics: float32 (N, C, 1, 1)."""
    import onnx
    from onnx import helper

    shape = ["batch", f"channels_{index}", 1, 1]  # one name per layer: widths differ
    return [
        helper.make_tensor_value_info(name.format(index), onnx.TensorProto.FLOAT, shape)
        for name in (mean_name, var_name)
    ]

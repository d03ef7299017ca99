"""Exact tiled inference in steps: images too big for one pass, in bounded memory (ONNX).

Instance normalisation needs each layer's statistics over the *whole* image, and layer k's
statistics depend on those of every layer before it, so one tiled pass can only guess
them (fst.infer.tiling extrapolates them from downscaled copies). Here the network runs
in *steps*, in the graph's order, each a tiled pass of a part of the graph:

- At the network's lowest resolution (1/4 or 1/8 of the image; the residual blocks), the
  tensors are *stored* whole, as float16: every norm layer's input there (its statistics
  then come from the stored tensor) and the residual stream (each block's input and
  output). 128 channels at 1/4 cost 16 bytes per image pixel each, and at most three
  are kept at a time.
- A norm layer at a higher resolution (the first and last layers) is *measured*: one
  pass from the nearest stored tensors (or the image) up to it adds up its input's
  moments over the part each tile owns (fst.infer.norm_stats windows).
- The output before the border margin is cropped is the last stored tensor.

Tiles own disjoint parts (together: the whole image, the network's border margin included)
and see HALO more input pixels of context on each inner side, more than the receptive
field of any step reaches, so the values they own are those of an untiled pass. Owned parts
of the image start on the STRIDE grid, so they map to whole pixels at every layer.

For the 5-block Johnson network the steps convolve about 1.5 untiled passes' worth plus
the halos (measured: 2.6x the CPU time of an untiled run); memory is one tile's pass, up
to three stored tensors, the image and the output. The result is an untiled run's up to
float16 rounding (benchmarks/inference_memory.md: a 4K photo in 1.18 GB, 0.066/255 off).
Shapes: image (3, H, W) float32 RGB in [0, 1]; ``style``: (S,) weights (fst.infer.runners).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fst.errors import FstError
from fst.infer import norm_stats
from fst.infer.metadata import border_margin
from fst.infer.norm_stats import WHOLE, NormStats, Window
from fst.infer.runners import INPUT_NAME, STYLE_NAME, style_weights

if TYPE_CHECKING:
    import onnx

STRIDE = 8  # owned parts of the image start on this grid: a multiple of every layer's stride
HALO = 32  # input px of context around an owned part: > the receptive-field radius of any step
# (at most ~16 px for the networks fst builds: a step spans one to three convolutions)
STAGED_TILE = 640  # px, the default owned part: a 4K photo peaks at 1.18 GB (benchmarks/)
PROBE = 64  # image side of the pass that measures every tensor's stride (128 with the margin)
FLOAT16_MAX = 65504.0

Session = Callable[[dict[str, np.ndarray], list[str]], list[np.ndarray]]


@dataclass(frozen=True)
class Landmarks:
    """Named tensors of an exported network: each norm layer's input, the residual stream
    (the input and output of every residual block: an Add of a norm layer's output) and
    the output before the border margin is cropped."""

    norm_inputs: list[str]
    stream: list[str]
    output: str

    @classmethod
    def of(cls, exported: onnx.GraphProto, rewritten: onnx.GraphProto) -> Landmarks:
        """``exported``: the graph as exported; ``rewritten``: its norm_stats.rewrite."""
        norms = [node for node in exported.node if node.op_type == "InstanceNormalization"]
        norm_outputs = {node.output[0] for node in norms}
        stream: list[str] = []
        for node in exported.node:
            if node.op_type == "Add" and len(node.input) == 2 and node.input[1] in norm_outputs:
                stream += [name for name in (node.input[0], node.output[0]) if name not in stream]
        producer = {out: node for node in rewritten.node for out in node.output}
        output = rewritten.output[0].name  # up the margin crop (Slice) and the Cast of fp16 graphs
        while producer[output].op_type in ("Slice", "Cast"):
            output = producer[output].input[0]
        return cls([node.input[0] for node in norms], stream, output)

    def names(self) -> list[str]:
        return [*self.norm_inputs, *self.stream, self.output]


@dataclass(frozen=True)
class Step:
    """One tiled pass: compute tensor ``target`` whole and keep it (``store``), or only
    measure the statistics of norm layer ``norm`` (whose input ``target`` is)."""

    target: str
    norm: int | None
    store: bool


def plan(marks: Landmarks, strides: dict[str, int], order: dict[str, int]) -> list[Step]:
    """The steps in the graph's order (``order``: tensor -> position): each norm input,
    stored at the lowest resolution and measured elsewhere; the residual stream and the
    output, stored."""
    lowest = max(strides[name] for name in marks.norm_inputs + marks.stream)
    steps = [Step(name, k, strides[name] == lowest) for k, name in enumerate(marks.norm_inputs)]
    steps += [Step(name, None, True) for name in marks.stream if name not in marks.norm_inputs]
    steps.append(Step(marks.output, None, True))
    return sorted(steps, key=lambda step: order[step.target])


def upstream(graph: onnx.GraphProto, outputs: list[str], stop: set[str]) -> tuple[list, set[str]]:
    """The nodes that compute ``outputs`` (in graph order), searching up from them and not
    past the tensors ``stop``, and the tensors of ``stop`` reached."""
    producer = {out: node for node in graph.node for out in node.output}
    needed, reached, stack, seen = set(), set(), list(outputs), set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in stop:
            reached.add(name)
        elif name in producer:  # else an initializer or an omitted optional input ("")
            needed.add(id(producer[name]))
            stack.extend(producer[name].input)
    return [node for node in graph.node if id(node) in needed], reached


def subgraph(model: onnx.ModelProto, sources: list[str], outputs: list[str], elem: int) -> onnx.ModelProto:
    """The part of ``model`` that computes ``outputs`` from the tensors ``sources`` (made
    inputs of element type ``elem`` unless they are graph inputs), the graph's inputs
    and its initializers."""
    import onnx
    from onnx import helper

    graph = model.graph
    graph_inputs = {i.name: i for i in graph.input}
    kept, reached = upstream(graph, outputs, set(sources) | set(graph_inputs))
    inputs = [
        graph_inputs.get(name) or helper.make_tensor_value_info(name, elem, ["n", "c", "h", "w"])
        for name in sorted(reached)
    ]
    used = {name for node in kept for name in node.input}
    declared = {o.name: o for o in graph.output}
    results = [
        declared.get(name) or helper.make_tensor_value_info(name, elem, ["n", "c", "h", "w"])
        for name in outputs
    ]
    weights = [init for init in graph.initializer if init.name in used]
    part = helper.make_model(
        helper.make_graph(kept, "step", inputs, results, weights),
        opset_imports=model.opset_import,
        ir_version=model.ir_version,
    )
    onnx.checker.check_model(part)
    return part


def owned_spans(length: int, tile: int, grid: int) -> list[tuple[int, int]]:
    """Disjoint (start, stop) parts covering [0, length), each about ``tile`` long,
    starts on multiples of ``grid``."""
    count = max(1, round(length / tile))
    starts = sorted({round(i * length / count / grid) * grid for i in range(count)})
    return list(zip(starts, [*starts[1:], length], strict=True))


class Moments:
    """Per-channel moments of disjoint parts, added up in float64."""

    def __init__(self):
        self.count, self.first, self.second = 0, 0.0, 0.0

    def add(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        """A part of ``count`` pixels with per-channel ``mean`` and ``var``, (1, C, 1, 1)."""
        mean, var = mean.astype(np.float64), var.astype(np.float64)
        self.count += count
        self.first = self.first + count * mean
        self.second = self.second + count * (var + mean * mean)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, var) of everything added, float32 (1, C, 1, 1)."""
        mean = self.first / self.count
        var = np.maximum(self.second / self.count - mean * mean, 0.0)
        return mean.astype(np.float32), var.astype(np.float32)


def channel_statistics(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, var) per channel of a (1, C, h, w) tensor, (1, C, 1, 1) float32, computed in
    float64 one channel at a time."""
    means, variances = [], []
    for c in range(tensor.shape[1]):
        plane = tensor[0, c].astype(np.float64)
        means.append(plane.mean())
        variances.append(plane.var())
    shape = (1, -1, 1, 1)
    return np.reshape(means, shape).astype(np.float32), np.reshape(variances, shape).astype(np.float32)


class StagedRun:
    """An ONNX runner's network (fst.infer.runners, format 2 on) run step by step on one
    image at a time (see the module docstring); the plan and the step graphs are made
    once and serve every image (the frames of a video).

    Coordinates: G is the whole image's network input (the image plus its border margin
    M, padded to the network's size multiple). A tile of tensors at stride s (input px
    per pixel) that starts at index t0 has its origin at G = t0 * s; tiles of the image
    add their own margin m = M, which puts their origin at G = t0 too.
    """

    def __init__(self, runner: Any, tile: int):
        import onnx

        self.runner, self.tile = runner, tile
        exported = onnx.load(str(runner.path))
        self.count = norm_stats.count_norms(exported)
        self.model = norm_stats.rewrite(exported, fixed=True)
        first_conv = next(node for node in self.model.graph.node if node.op_type == "Conv")
        types = {init.name: init.data_type for init in self.model.graph.initializer}
        self.elem = types[first_conv.input[1]]  # FLOAT, or FLOAT16 in fp16 exports
        self.dtype = np.float16 if self.elem == onnx.TensorProto.FLOAT16 else np.float32
        self.style = self._style_feed(None)
        unit = (np.zeros((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32))
        self.stats: NormStats = [unit] * self.count  # filled in step by step
        self.parts: dict[tuple[tuple[str, ...], tuple[str, ...]], onnx.ModelProto] = {}
        marks = Landmarks.of(exported.graph, self.model.graph)
        self.stride = self._strides(marks.names())
        order = {out: i for i, node in enumerate(self.model.graph.node) for out in node.output}
        self.steps = plan(marks, self.stride, order)
        self.sources = []  # per step: the stored tensors it starts from
        stored = {INPUT_NAME}
        for step in self.steps:
            self.sources.append(upstream(self.model.graph, [step.target], stored)[1])
            stored |= {step.target} if step.store else set()

    def _style_feed(self, style: np.ndarray | None) -> dict[str, np.ndarray]:
        weights = style_weights(style, self.runner.info)
        return {} if weights is None else {STYLE_NAME: weights}

    def _session(self, sources: list[str], outputs: list[str]) -> tuple[Session, set[str]]:
        """The graph from ``sources`` to ``outputs`` in the runner's runtime, and its inputs.

        The graphs are cut once; their sessions live for one step only (each holds memory
        of its own, ~0.7 GB for all the steps of a 4K photo together)."""
        key = (tuple(sorted(sources)), tuple(outputs))
        if key not in self.parts:
            self.parts[key] = subgraph(self.model, sources, outputs, self.elem)
        part = self.parts[key]
        return self.runner.session(part), {i.name for i in part.graph.input}

    def _strides(self, names: list[str]) -> dict[str, int]:
        """Input px per pixel of each named tensor (a pass on a PROBE x PROBE image)."""
        run, inputs = self._session([INPUT_NAME], names)
        probe = np.full((1, 3, PROBE, PROBE), 0.5, dtype=np.float32)
        side = PROBE + 2 * border_margin(PROBE, PROBE)
        arrays = run(self._feed({INPUT_NAME: probe}, inputs), names)
        return {INPUT_NAME: 1} | {
            name: round(side / a.shape[2]) for name, a in zip(names, arrays, strict=True)
        }

    def _feed(
        self, tiles: dict[str, np.ndarray], inputs: set[str], windows: dict[int, Window] | None = None
    ) -> dict[str, np.ndarray]:
        """A step graph's inputs: the source tiles, style, statistics and moment windows."""
        windows = windows or {}
        feed = tiles | self.style | norm_stats.fixed_feed(self.stats, 1)
        feed |= norm_stats.window_feed([windows.get(k, WHOLE) for k in range(self.count)], self.count)
        return {name: value for name, value in feed.items() if name in inputs}

    def _tiles(
        self, sources: dict[str, np.ndarray]
    ) -> Iterator[tuple[dict[str, np.ndarray], int, int, Window]]:
        """Tiles of ``sources`` (tensors (1, C, h, w) at one stride s): (crops by name,
        origin row and column in G, owned part (top, left, bottom, right) in the tile's
        network-input px), the bottom-right tile first."""
        strides = {self.stride[name] for name in sources}
        if len(strides) != 1:
            raise ValueError(f"the sources of a step differ in resolution: {sorted(sources)}")
        stride = strides.pop()
        height, width = next(iter(sources.values())).shape[2:]
        image = INPUT_NAME in sources
        grid = STRIDE if image else 1
        halo, tile = HALO // stride, max(grid, self.tile // stride)

        # An image tile must be long enough to get the image's own border margin M.
        least = border_margin(height, width) + 1 if image else 1

        def spans(length: int) -> list[tuple[int, int, int, int]]:  # owned start, stop; tile start, stop
            result = []
            for a, b in owned_spans(length, tile, grid):
                low, high = max(0, a - halo), min(length, b + halo)
                if high - low < least:
                    low = max(0, min(low, length - least) // grid * grid)
                    high = max(high, min(length, low + least))
                result.append((a, b, low, high))
            return result

        dtype = np.float32 if image else self.dtype
        for top, bottom, r0, r1 in reversed(spans(height)):
            for left, right, c0, c1 in reversed(spans(width)):
                margin = border_margin(r1 - r0, c1 - c0) if image else 0
                owned = (
                    0 if top == 0 else margin + (top - r0) * stride,
                    0 if left == 0 else margin + (left - c0) * stride,
                    WHOLE[2] if bottom == height else margin + (bottom - r0) * stride,
                    WHOLE[3] if right == width else margin + (right - c0) * stride,
                )
                crops = {
                    name: np.ascontiguousarray(x[:, :, r0:r1, c0:c1], dtype=dtype)
                    for name, x in sources.items()
                }
                yield crops, r0 * stride, c0 * stride, owned

    def measure(self, step: Step, sources: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The statistics of ``step.norm`` over the whole image, from passes over ``sources``."""
        names = [
            n.format(step.norm)
            for n in (norm_stats.MOMENT_MEAN, norm_stats.MOMENT_VAR, norm_stats.MOMENT_SHAPE)
        ]
        run, inputs = self._session(list(sources), names)
        layer, total = self.stride[step.target], Moments()
        for crops, _, _, owned in self._tiles(sources):
            window = (owned[0] // layer, owned[1] // layer, owned[2] // layer, owned[3] // layer)
            mean, var, shape = run(self._feed(crops, inputs, {step.norm: window}), names)
            total.add(mean, var, int(shape[2] * shape[3]))
        return total.statistics()

    def compute(self, step: Step, sources: dict[str, np.ndarray], dtype: type) -> np.ndarray:
        """Tensor ``step.target`` over all of G, (1, C, h, w) of ``dtype``, from the tiles'
        owned parts."""
        run, inputs = self._session(list(sources), [step.target])
        scale, out = self.stride[step.target], None
        for crops, row, col, owned in self._tiles(sources):
            (y,) = run(self._feed(crops, inputs), [step.target])
            r0, c0 = owned[0] // scale, owned[1] // scale
            r1, c1 = min(owned[2] // scale, y.shape[2]), min(owned[3] // scale, y.shape[3])
            top, left = (row + owned[0]) // scale, (col + owned[1]) // scale
            if out is None:  # the bottom-right tile comes first: it ends where G ends (NaN: unwritten)
                out = np.full((1, y.shape[1], top + r1 - r0, left + c1 - c0), np.nan, dtype=dtype)
            part = y[:, :, r0:r1, c0:c1]
            if dtype == np.float16 and np.abs(part).max() > FLOAT16_MAX:
                raise FstError("this image drives the network beyond float16 range: stylize it with --tile 0")
            out[:, :, top : top + r1 - r0, left : left + c1 - c0] = part
        return out

    def __call__(self, image: np.ndarray, style: np.ndarray | None = None) -> np.ndarray:
        """(3, H, W) float32 -> stylized (3, H, W) float32; ``style``: (S,) weights."""
        self.style = self._style_feed(style)
        stored = {INPUT_NAME: image[None]}
        for index, (step, names) in enumerate(zip(self.steps, self.sources, strict=True)):
            sources = {name: stored[name] for name in names}
            if not step.store:
                self.stats[step.norm] = self.measure(step, sources)
                continue
            last = index == len(self.steps) - 1
            stored[step.target] = self.compute(step, sources, np.float32 if last else np.float16)
            if step.norm is not None:
                self.stats[step.norm] = channel_statistics(stored[step.target])
            later = set().union(*self.sources[index + 1 :])
            for name in [name for name in stored if name not in later and name != step.target]:
                del stored[name]  # no later step starts from it
        height, width = image.shape[1:]
        margin = border_margin(height, width)
        return stored[self.steps[-1].target][0, :, margin : margin + height, margin : margin + width]


def can_stage(runner: object) -> bool:
    """Whether ``runner`` can run in steps: an ONNX runtime on a graph that adds its own
    border margin (format 2 on; fst.infer.metadata)."""
    return hasattr(runner, "session") and runner.info.adds_margin


@functools.lru_cache(maxsize=4)
def staged_run(runner: Any, tile: int) -> StagedRun:
    """The StagedRun of ``runner`` with parts of ``tile`` px, made on first use."""
    return StagedRun(runner, tile)


def run_staged(runner: Any, image: np.ndarray, tile: int, style: np.ndarray | None = None) -> np.ndarray:
    """Stylize one (3, H, W) float32 image as one untiled pass would, with passes over
    parts of about ``tile`` x ``tile`` input px (plus HALO on each side); ``runner``: an
    ONNX runner for which can_stage holds."""
    return staged_run(runner, tile)(image, style)

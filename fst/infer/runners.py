"""One inference interface over PyTorch, ONNX Runtime and OpenCV DNN.

Every model file becomes a *runner*: a callable that maps a float32 batch of shape
(N, 3, H, W), RGB in [0, 1], to a stylized batch of the same shape and range. Any
H, W >= 8 works (the network adds the reflected border margin, pads to its size multiple
and crops back; for ONNX files of format 1, whose graphs lack the margin, the runner adds
it in numpy, so every file gives the pixels it gave before).

    runner = open_runner("model.onnx")          # runtime and device picked automatically
    out = runner(batch)                         # np.ndarray float32 (N, 3, H, W)
    out = runner(batch, style=weights)          # a multi-style model: (S,) mixing weights
    runner.name, runner.device, runner.info     # "onnxruntime", "cpu", ModelInfo(style=...)

A model holding S > 1 styles (``runner.info.style_names``) takes ``style``: float32
mixing weights of shape (S,) for the whole batch (fst.infer.style_mix makes them from
names); None is its first style. Its ONNX graph has a second input ``style`` of shape
(S,) (fst.infer.export). Single-style models ignore ``style``.

Runtimes and the files they read:

- ``torch``: a Lightning checkpoint (.ckpt) or the safetensors inference file; cpu or cuda.
- ``onnxruntime``: an exported .onnx; CUDA execution provider when asked for and present.
- ``opencv``: an exported .onnx through ``cv2.dnn`` (OpenCV 5 reads dynamic shapes).

This module imports no torch at module level: opening an .onnx never loads torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from fst.errors import FstError
from fst.infer import norm_stats
from fst.infer.metadata import ModelInfo, border_margin, model_info
from fst.infer.norm_stats import NormStats
from fst.infer.shipped import resolve_model
from fst.infer.style_mix import one_hot

if TYPE_CHECKING:
    import onnx

RUNTIMES = ("auto", "torch", "onnxruntime", "opencv")
DEVICES = ("auto", "cpu", "cuda")
TORCH_SUFFIXES = (".ckpt", ".safetensors")
ONNX_SUFFIXES = (".onnx",)

# ONNX metadata keys written by fst.infer.export and read back here.
META_FORMAT = "fst-transformer-onnx"
INPUT_NAME = "image"
STYLE_NAME = "style"  # the second input of a multi-style graph: (S,) float32 mixing weights
OUTPUT_NAME = "stylized"


class Runner(Protocol):
    """(N, 3, H, W) float32 RGB in [0, 1] -> same shape; see the module docstring.

    ``stats`` (optional): instance-norm statistics to use instead of the batch's own,
    as returned by ``statistics`` (see fst.infer.norm_stats); tiling uses this so every tile
    is normalised like the whole image. ``style``: (S,) float32 mixing weights of a
    multi-style model (None: its first style; ignored by single-style models).
    """

    name: str  # "torch", "onnxruntime" or "opencv"
    device: str  # "cpu" or "cuda"
    info: ModelInfo  # what the model file says about itself (fst.infer.metadata)

    def __call__(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> np.ndarray: ...

    def statistics(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> NormStats:
        """Per instance-norm layer, the (mean, var) of its input, each (N, C, 1, 1) float32,
        for ``batch`` normalised with its own statistics or, if given, with ``stats``."""
        ...


def open_runner(model: str | os.PathLike, runtime: str = "auto", device: str = "auto") -> Runner:
    """Load ``model`` (a file, or a shipped style's name: fst.infer.shipped) into the chosen
    runtime; ``auto`` picks by the file suffix.

    Raises FstError (one line) for a missing, corrupt or incompatible model file, an
    unknown runtime or device, or a runtime that cannot read this kind of file.
    """
    if runtime not in RUNTIMES:
        raise FstError(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")
    if device not in DEVICES:
        raise FstError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    path = resolve_model(model, runtime)
    if not path.is_file():
        raise FstError(f"{path}: model file not found")
    suffix = path.suffix.lower()
    if suffix not in TORCH_SUFFIXES + ONNX_SUFFIXES:
        raise FstError(f"{path}: unknown model file type (expected .ckpt, .safetensors or .onnx)")
    if runtime == "auto":
        runtime = "torch" if suffix in TORCH_SUFFIXES else "onnxruntime"
    if (runtime == "torch") != (suffix in TORCH_SUFFIXES):
        wanted = "a .ckpt or .safetensors file" if runtime == "torch" else "an .onnx file (see `fst export`)"
        raise FstError(f"{path}: the {runtime} runtime needs {wanted}")
    opener = {"torch": TorchRunner, "onnxruntime": OnnxRuntimeRunner, "opencv": OpenCVRunner}[runtime]
    return opener(path, device)


def info_from_metadata(meta: dict[str, str], path: Path) -> ModelInfo:
    """ONNX metadata_props written by fst.infer.export -> ModelInfo, every value checked
    (fst.infer.metadata) before anything uses it."""
    if meta.get("format") != META_FORMAT:
        raise FstError(f"{path}: not an ONNX file exported by `fst export`")
    return model_info(meta, path)


def style_weights(style: np.ndarray | None, info: ModelInfo) -> np.ndarray | None:
    """The (S,) float32 weights a model of S = len(info.style_names) styles runs with: None
    for a single-style model, ``style`` or one-hot style 0 for a multi-style one."""
    count = len(info.style_names)
    if count == 1:
        return None
    if style is None:
        return one_hot(0, count)
    if np.shape(style) != (count,):
        raise ValueError(f"style weights must have shape ({count},), got {np.shape(style)}")
    return np.asarray(style, dtype=np.float32)


def onnx_info(path: Path) -> ModelInfo:
    """The checked ModelInfo of an exported .onnx, read without running it."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise FstError(f"{path}: not a readable ONNX file ({_first_line(exc)})") from None
    return info_from_metadata({p.key: p.value for p in proto.metadata_props}, path)


def _check_batch(batch: np.ndarray) -> np.ndarray:
    """Validate the runner contract and return a C-contiguous float32 array."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) batch, got shape {batch.shape}")
    if min(batch.shape[2:]) < 8:
        raise ValueError(f"height and width must be at least 8 pixels, got {batch.shape[2:]}")
    return np.ascontiguousarray(batch, dtype=np.float32)


class TorchRunner:
    """PyTorch eager on a .ckpt (Lightning) or .safetensors (inference file)."""

    name = "torch"

    def __init__(self, path: Path, device: str = "auto"):
        import torch

        from fst.infer.model_file import load_net

        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise FstError("--device cuda: PyTorch sees no CUDA GPU on this machine")
        net, self.info = load_net(path)
        self.device = device
        self.net = net.to(device)

    def _forward(self, batch: np.ndarray, style: np.ndarray | None) -> np.ndarray:
        torch = self._torch
        weights = style_weights(style, self.info)
        with torch.inference_mode():
            x = torch.from_numpy(_check_batch(batch)).to(self.device)
            mix = None if weights is None else torch.from_numpy(weights).to(self.device)
            return self.net(x, mix).float().cpu().numpy()

    def __call__(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> np.ndarray:
        if stats is None:
            return self._forward(batch, style)
        with norm_stats.torch_hooks(self.net, stats):
            return self._forward(batch, style)

    def statistics(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> NormStats:
        with norm_stats.torch_hooks(self.net, stats) as recorded:
            self._forward(batch, style)
        return recorded


class _OnnxRunner:
    """Shared ONNX logic: the graph as exported, plus its two rewrites by
    fst.infer.norm_stats.rewrite (``record``: moments out; ``fixed``: statistics in), built on
    first use, and the border margin for format-1 graphs. Subclasses set ``self.info`` and
    ``self._graph = self._load(path)`` and implement ``_load(source)`` (a path or
    serialized bytes) and ``_run(handle, feed, output_names)``.
    """

    info: ModelInfo

    def __init__(self, path: Path):
        self.path = path
        self._variants: dict[bool, object] = {}
        self._norm_count = 0

    def _variant(self, fixed: bool):
        """The rewritten graph (fixed statistics in, or not), loaded once."""
        if fixed not in self._variants:
            import onnx

            proto = onnx.load(str(self.path))
            self._norm_count = norm_stats.count_norms(proto)
            self._variants[fixed] = self._load(norm_stats.rewrite(proto, fixed).SerializeToString())
        return self._variants[fixed]

    def _margin(self, batch: np.ndarray) -> int:
        """The border margin this runner adds in numpy: none for graphs that add their own."""
        return 0 if self.info.adds_margin else border_margin(*batch.shape[2:])

    def _feed(
        self, batch: np.ndarray, stats: NormStats | None, style: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        batch = _check_batch(batch)
        margin = self._margin(batch)
        if margin:
            batch = np.pad(batch, ((0, 0), (0, 0), (margin, margin), (margin, margin)), mode="reflect")
        feed = {INPUT_NAME: batch}
        weights = style_weights(style, self.info)
        if weights is not None:
            feed[STYLE_NAME] = weights
        if stats is not None:
            feed.update(norm_stats.fixed_feed(stats, len(batch)))
        return feed

    def _variant_feed(
        self, batch: np.ndarray, stats: NormStats | None, style: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """The feed of a rewritten graph: moments over the whole of every layer."""
        return self._feed(batch, stats, style) | norm_stats.window_feed(None, self._norm_count)

    def __call__(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> np.ndarray:
        if stats is None:
            (out,) = self._run(self._graph, self._feed(batch, stats, style), [OUTPUT_NAME])
        else:
            handle = self._variant(fixed=True)
            (out,) = self._run(handle, self._variant_feed(batch, stats, style), [OUTPUT_NAME])
        (height, width), m = batch.shape[2:], self._margin(batch)
        return out[:, :, m : m + height, m : m + width]

    def statistics(
        self, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
    ) -> NormStats:
        handle = self._variant(fixed=stats is not None)
        names = norm_stats.moment_names(self._norm_count)
        arrays = self._run(handle, self._variant_feed(batch, stats, style), names)
        return list(zip(arrays[0::2], arrays[1::2], strict=True))

    def session(self, proto: onnx.ModelProto):
        """Run a graph derived from this model (fst.infer.staged) in this runtime:
        returns run(feed, output_names) -> arrays."""
        handle = self._load(proto.SerializeToString())
        return lambda feed, outputs: self._run(handle, feed, outputs)

    def _load(self, source: str | bytes):
        raise NotImplementedError

    def _run(self, handle, feed: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        raise NotImplementedError


class OnnxRuntimeRunner(_OnnxRunner):
    """ONNX Runtime on an exported .onnx; imports no torch."""

    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "auto"):
        import onnxruntime as ort

        super().__init__(path)
        self._ort = ort
        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        if device == "cuda" and not has_cuda:
            raise FstError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        use_cuda = device == "cuda" or (device == "auto" and has_cuda)
        self._providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
        self._graph = self._load(str(path))
        inputs = {i.name: i.shape for i in self._graph.get_inputs()}
        outputs = [o.name for o in self._graph.get_outputs()]
        if list(inputs) not in ([INPUT_NAME], [INPUT_NAME, STYLE_NAME]) or outputs != [OUTPUT_NAME]:
            raise FstError(
                f"{path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, found {list(inputs)} -> "
                f"{outputs} (export it with `fst export`)"
            )
        self.info = info_from_metadata(self._graph.get_modelmeta().custom_metadata_map, path)
        count = len(self.info.styles)
        if inputs.get(STYLE_NAME) != ([count] if count else None):
            shape = inputs.get(STYLE_NAME)
            fit = f"the {count} styles its metadata names" if count else "its metadata (one style)"
            raise FstError(f"{path}: the graph's {STYLE_NAME!r} input (shape {shape}) does not fit {fit}")
        self.device = "cuda" if "CUDAExecutionProvider" in self._graph.get_providers() else "cpu"

    def _load(self, source: str | bytes):
        options = self._ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings about unused initializers
        # Derived graphs (bytes: the statistics variants, the steps of fst.infer.staged) run
        # on big tiles next to the main session and to each other: no memory arena and no
        # memory pattern, so each returns its peak memory after every run, not kept each.
        derived = not isinstance(source, str)
        options.enable_cpu_mem_arena = options.enable_mem_pattern = not derived
        try:
            return self._ort.InferenceSession(source, options, providers=self._providers)
        except Exception as exc:  # ORT raises its own pybind exception types for bad files
            raise FstError(f"{self.path}: onnxruntime cannot load this model ({_first_line(exc)})") from None

    def _run(self, handle, feed: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        return handle.run(outputs, feed)


class OpenCVRunner(_OnnxRunner):
    """OpenCV DNN (``cv2.dnn.readNetFromONNX``) on an exported .onnx; imports no torch."""

    name = "opencv"

    def __init__(self, path: Path, device: str = "auto"):
        try:
            import cv2
        except ImportError:
            raise FstError("the opencv runtime needs OpenCV 5: pip install opencv-python-headless") from None
        super().__init__(path)
        self._cv2 = cv2
        self.info = onnx_info(path)
        has_cuda = hasattr(cv2, "cuda") and cv2.cuda.getCudaEnabledDeviceCount() > 0
        if device == "cuda" and not has_cuda:
            raise FstError("--device cuda: this OpenCV build has no CUDA support")
        self.device = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
        self._graph = self._load(str(path))

    def _load(self, source: str | bytes):
        cv2 = self._cv2
        try:
            net = cv2.dnn.readNetFromONNX(
                source if isinstance(source, str) else np.frombuffer(source, np.uint8)
            )
        except cv2.error as exc:
            raise FstError(f"{self.path}: OpenCV cannot load this model ({_first_line(exc)})") from None
        if self.device == "cuda":
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        return net

    def _run(self, handle, feed: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        for name, array in feed.items():
            handle.setInput(array, name)
        names = list(handle.getUnconnectedOutLayersNames())  # OpenCV 5 computes all or one
        try:
            results = dict(zip(names, handle.forward(names), strict=True))
        except self._cv2.error as exc:
            raise RuntimeError(f"OpenCV DNN failed: {_first_line(exc)}") from None
        return [np.asarray(results[name], dtype=np.float32) for name in outputs]


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message (runtimes write long ones)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

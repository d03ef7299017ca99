"""The standalone inference file: stylisation network weights as safetensors.

Metadata (all strings): ``format`` = "fst-transformer", ``format_version`` = "2",
``arch`` = JSON of TransformerConfig, ``style`` = style name, ``training`` = JSON of
the training hyper-parameters, ``objective`` = JSON of the LossConfig settings,
``style_images`` = JSON list of base64 PNGs (fst.infer.metadata; format-1 files, without
the last two, still load), ``producer`` = the fst version that wrote the file, and for a
network holding several styles ``styles`` = JSON list of their names.
Loading never runs code from the file: safetensors has no code in it, and Lightning
checkpoints are read with ``torch.load(weights_only=True)``, which refuses any pickle that
asks for more than tensors and plain containers. The metadata and the tensor names and
shapes are checked (fst.infer.metadata) before a network is built or a tensor is read.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from fst import __version__
from fst.errors import FstError
from fst.imageio import atomic_path
from fst.infer.metadata import (
    ARCH_KEYS,
    FORMAT_VERSION,
    ModelInfo,
    check_arch,
    describe,
    model_info,
    objective_from,
    plain_name,
    styles_problem,
)
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig

FORMAT = "fst-transformer"


def save_model_file(
    net: nn.Module,
    path: str | os.PathLike,
    style: str,
    training: dict,
    half: bool = False,
    objective: dict | None = None,
    style_images: Sequence[bytes] = (),
    styles: Sequence[str] = (),
) -> None:
    """Write ``net`` (fp32, or fp16 with ``half``) and its description atomically.

    style: the model's name (its painting's, for a single-style network); objective: the
    LossConfig settings (LossConfig.to_dict()); style_images: the style images as training
    saw them, PNG-encoded (fst.loss.objective.style_png), one per style; styles: for a
    network of num_styles > 1, the name of each style in the order of its style weights
    (FstError, nothing written, when they do not fit the network).
    """
    tensors = {k: (v.half() if half else v.float()).contiguous().cpu() for k, v in net.state_dict().items()}
    info = ModelInfo(
        style=style,
        arch=net.config.to_dict(),
        training=training,
        objective=objective or {},
        style_images=tuple(style_images),
        precision="fp16" if half else "fp32",
        format_version=FORMAT_VERSION,
        styles=tuple(styles),
    )
    metadata = {"format": FORMAT, **describe(info, f"fst {__version__}", path)}
    with atomic_path(path) as tmp:
        try:
            tmp.write_bytes(save(tensors, metadata=metadata))  # save_file would make it 0600
        except (SafetensorError, OSError) as exc:
            raise FstError(f"{path}: cannot write the model file ({exc})") from None


def torch_load_safely(path: Path, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors.

    A pickle that would call anything beyond tensors and plain containers (the way a
    malicious checkpoint runs code) is refused, and nothing in it is executed.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        what = f"it would call {found[1]}" if found else "it holds more than tensors and plain values"
        raise FstError(f"{path}: refused to load: {what}; fst never runs code from model files") from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise FstError(f"{path}: not a readable PyTorch checkpoint ({str(exc).splitlines()[0]})") from None


def build_network(arch: dict, origin: Path) -> nn.Module:
    """A fresh network for a checked ``arch`` dict (fst.infer.metadata.check_arch)."""
    try:
        return build_transformer(TransformerConfig(**arch))
    except ValueError as exc:
        raise FstError(f"{origin}: {exc}") from None


def check_tensors(shapes: dict[str, tuple[int, ...]], net: nn.Module, origin: Path) -> None:
    """Raise FstError unless ``shapes`` (name -> shape) are exactly ``net``'s parameters."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    if missing or unexpected:
        raise FstError(
            f"{origin}: tensors do not match the network (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for name, shape in expected.items():
        if tuple(shapes[name]) != shape:
            raise FstError(
                f"{origin}: tensor {name} has shape {tuple(shapes[name])}, the network needs {shape}"
            )


def load_model_file(path: str | os.PathLike) -> tuple[nn.Module, ModelInfo]:
    """Read an inference file -> (network of the stored arch, eval mode, fp32, its ModelInfo)."""
    path = Path(path)
    if not path.is_file():
        raise FstError(f"{path}: model file not found")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise FstError(f"{path}: not an fst model file (format {meta.get('format', '')[:40]!r})")
            info = model_info(meta, path)
            net = build_network(info.arch, path)
            check_tensors({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, net, path)  # noqa: SIM118
            net.load_state_dict({k: f.get_tensor(k).float() for k in f.keys()})  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise FstError(f"{path}: not a readable model file ({exc})") from None
    return net.eval(), replace(info, arch=net.config.to_dict(), precision="fp32")


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, ModelInfo]:
    """Read a Lightning checkpoint safely (weights_only) -> (network, eval mode, its ModelInfo).

    The objective is the ``loss`` hyper-parameter (LossConfig settings) or, in checkpoints
    of older fst versions, the flat LossConfig keys among the hyper-parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise FstError(f"{path}: checkpoint not found")
    ckpt = torch_load_safely(path)
    hp, state = (
        (ckpt.get("hyper_parameters"), ckpt.get("state_dict")) if isinstance(ckpt, dict) else (None, None)
    )
    if not isinstance(hp, dict) or not isinstance(state, dict):
        raise FstError(f"{path}: not an fst training checkpoint (no hyper_parameters and state_dict)")
    # The network as built (fst.train.module.on_save_checkpoint) wins over the settings given.
    hp = {**hp, **(ckpt["network"] if isinstance(ckpt.get("network"), dict) else {})}
    net = build_network(check_arch({k: hp[k] for k in ARCH_KEYS if k in hp}, path), path)
    weights = {k[4:]: v for k, v in state.items() if isinstance(k, str) and k.startswith("net.")}
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise FstError(f"{path}: not an fst training checkpoint (network weights that are not tensors)")
    check_tensors({k: tuple(v.shape) for k, v in weights.items()}, net, path)
    net.load_state_dict(weights)
    style = Path(str(hp.get("style_image", ""))).stem
    info = ModelInfo(
        style=style if plain_name(style) else "",
        styles=checkpoint_styles(hp, net.config.num_styles),
        arch=net.config.to_dict(),
        training=hp,
        objective=hp["loss"] if isinstance(hp.get("loss"), dict) else objective_from(hp),
        style_images=(),
        precision="fp32",
        format_version=FORMAT_VERSION,
    )
    return net.eval(), info


def checkpoint_styles(hp: dict, num_styles: int) -> tuple[str, ...]:
    """The style names of a multi-style checkpoint: its ``styles`` hyper-parameter (a list of
    names, as in model files) when it fits, else style_1, style_2, ...; () for one style."""
    if num_styles == 1:
        return ()
    names = hp.get("styles")
    if not isinstance(names, list) or styles_problem(names, num_styles, 0):
        names = [f"style_{i + 1}" for i in range(num_styles)]
    return tuple(names)


def load_net(path: str | os.PathLike) -> tuple[nn.Module, ModelInfo]:
    """A .ckpt (Lightning checkpoint) or any other file (the inference file) -> (net, info)."""
    loader = load_checkpoint if Path(path).suffix.lower() == ".ckpt" else load_model_file
    return loader(path)

"""The standalone inference file: stylisation network weights as safetensors.

Metadata (all strings): ``format`` = "fst-transformer", ``format_version`` = "1",
``arch`` = JSON of TransformerConfig, ``style`` = style name, ``training`` = JSON of
the training hyper-parameters. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from fst.errors import FstError
from fst.imageio import atomic_path
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig

FORMAT = "fst-transformer"


def save_model_file(
    net: nn.Module, path: str | os.PathLike, style: str, training: dict, half: bool = False
) -> None:
    """Write ``net`` (fp32, or fp16 with ``half``) and its description atomically."""
    tensors = {k: (v.half() if half else v.float()).contiguous().cpu() for k, v in net.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "format_version": "1",
        "arch": json.dumps(net.config.to_dict()),
        "style": style,
        "training": json.dumps(training, default=str),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_model_file(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Read an inference file -> (network of the stored arch, eval mode, fp32, metadata dict)."""
    path = Path(path)
    if not path.is_file():
        raise FstError(f"{path}: model file not found")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise FstError(f"{path}: not a readable model file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise FstError(f"{path}: not an fst model file (format {meta.get('format')!r})")
    try:
        config = TransformerConfig(**json.loads(meta["arch"]))
        net = build_transformer(config)
        net.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise FstError(f"{path}: model file does not match the network ({str(exc).splitlines()[0]})") from None
    info = {"style": meta.get("style", ""), "arch": config.to_dict(), "training": json.loads(meta.get("training", "{}"))}
    return net.eval(), info


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Read a Lightning checkpoint safely (weights_only) -> (network, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FstError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        hp = dict(ckpt["hyper_parameters"])
        config = TransformerConfig(
            width=hp.get("width"), num_res_blocks=hp.get("num_res_blocks", 5), arch=hp.get("arch", "johnson")
        )
        net = build_transformer(config)
        net.load_state_dict({k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")})
    except Exception as exc:  # unpickling refusals, truncation, missing keys: all one message
        raise FstError(f"{path}: not a loadable fst checkpoint ({str(exc).splitlines()[0]})") from None
    info = {"style": Path(str(hp.get("style_image", ""))).stem, "arch": config.to_dict(), "training": hp}
    return net.eval(), info


def load_net(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A .ckpt (Lightning checkpoint) or any other file (the inference file) -> (net, info)."""
    loader = load_checkpoint if Path(path).suffix.lower() == ".ckpt" else load_model_file
    return loader(path)

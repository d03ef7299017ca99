"""Tiny seeded style networks for the inference tests (width 8, one residual block), with
one style or several (conditional instance norm: fst.models.conditional)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from fst.infer.export import _trace
from fst.infer.model_file import load_model_file, save_model_file
from fst.infer.runners import META_FORMAT
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig, TransformerNet

TRAINING = {"style_image": "tiny.jpg", "style_weight": 1e5, "steps": 0}
STYLES = ("ink", "fire")  # the styles of the tiny multi-style model


def tiny_net(seed: int = 0) -> TransformerNet:
    """A randomly initialised net whose norm layers have non-trivial scale and bias,
    so statistics matter as much as in a trained one."""
    torch.manual_seed(seed)
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return net.eval()


def save_tiny_model(path: Path, seed: int = 0) -> Path:
    save_model_file(tiny_net(seed), path, style="tiny", training=TRAINING)
    return path


def tiny_multi_net(num_styles: int = len(STYLES), arch: str = "johnson", seed: int = 0) -> nn.Module:
    """A random ``num_styles``-style net whose styles have clearly different γ/β."""
    torch.manual_seed(seed)
    config = TransformerConfig(width=8, num_res_blocks=1, arch=arch, num_styles=num_styles)
    net = build_transformer(config)
    with torch.no_grad():
        for p in net.style_parameters():
            p.uniform_(-1.0, 1.5)
    return net.eval()


def save_tiny_multi_model(path: Path, arch: str = "johnson") -> Path:
    """The tiny two-style model (styles STYLES) as an inference file."""
    save_model_file(tiny_multi_net(arch=arch), path, style="tiny_pair", training=TRAINING, styles=STYLES)
    return path


class BareNetwork(nn.Module):
    """A stylisation network without its border margin, in any mode: (N, 3, H, W) -> same."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.stylize(x)


def export_format_1(model: Path, path: Path) -> Path:
    """``model`` as fst exported it before format 2: the bare network, no border margin in the
    graph, metadata without objective and style images."""
    net, info = load_model_file(model)
    proto = _trace(BareNetwork(net))
    meta = {"format": META_FORMAT, "format_version": "1", "style": info.style, "arch": json.dumps(info.arch)}
    onnx.helper.set_model_props(proto, {**meta, "training": json.dumps(info.training), "precision": "fp32"})
    onnx.save(proto, str(path))
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One PyTorch thread per test (import this autouse fixture into a test module): on
    a shared, busy 2-core machine two threads of a tiny network mostly wait on each
    other (measured 10-30x slower). Set per test: a module-scoped setting did not hold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

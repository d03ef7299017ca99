"""Tiny seeded style networks for the inference tests (width 8, one residual block)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fst.model_file import save_model_file
from fst.models.transformer import TransformerConfig, TransformerNet

TRAINING = {"style_image": "tiny.jpg", "style_weight": 1e5, "steps": 0}


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


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One PyTorch thread per test (import this autouse fixture into a test module): on
    a shared, busy 2-core machine two threads of a tiny network mostly wait on each
    other (measured 10-30x slower). Set per test: a module-scoped setting did not hold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

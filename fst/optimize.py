"""The optimisation baseline (Gatys et al. 2016): L-BFGS on the pixels of one image.

It minimises exactly the training objective: the image is held by PixelImage, a
"network" that ignores its input and returns its parameters, put in place of the
TransformerNet of a StyleTransferModule; ``module.losses(content)`` is then the
objective of the image, with every setting of training (weights, layers, any
``style_loss``). fst.evaluate uses the same pieces to score a trained network.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from fst.errors import FstError
from fst.module import StyleTransferModule

INITS = ("content", "noise")
HISTORY_SIZE = 100  # L-BFGS correction pairs kept (as in Johnson's neural-style)


class PixelImage(nn.Module):
    """A (1, 3, H, W) image as a parameter; ``forward`` ignores its input and returns it."""

    def __init__(self, image: torch.Tensor, trainable: bool = True):
        super().__init__()
        self.image = nn.Parameter(image.detach().clone(), requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.image


@contextmanager
def fixed_randomness(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generators (CPU, and ``device`` if CUDA) inside; restore them after."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def objective_module(
    style_image: str | Path, settings: Mapping[str, object], device: str | torch.device = "cpu"
) -> StyleTransferModule:
    """A StyleTransferModule with the loss settings of training (``settings`` as in the
    ``training`` metadata of a model file, or a subset; other keys are ignored)."""
    accepted = set(inspect.signature(StyleTransferModule.__init__).parameters) - {"self", "style_image"}
    kwargs = {k: v for k, v in settings.items() if k in accepted}
    return StyleTransferModule(style_image=str(style_image), **kwargs).to(device)


def measure(module: StyleTransferModule, image: torch.Tensor, content: torch.Tensor, seed: int = 0) -> dict:
    """Objective terms (floats) of ``image`` for ``content``, both (1, 3, H, W) in [0, 1].

    Random parts of a style loss (sampled positions) are drawn from ``seed``.
    """
    module.net = PixelImage(image, trainable=False)
    with torch.no_grad(), fixed_randomness(seed, content.device):
        return {k: float(v) for k, v in module.losses(content).items()}


def start_image(content: torch.Tensor, init: str, seed: int = 0) -> torch.Tensor:
    """The first iterate: the content image itself, or uniform noise in [0, 1]."""
    if init not in INITS:
        raise FstError(f"unknown --init {init!r} (choose from {', '.join(INITS)})")
    if init == "content":
        return content.clone()
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(content.shape, generator=generator).to(content.device)


def lbfgs_iterations(
    module: StyleTransferModule, content: torch.Tensor, start: torch.Tensor, seed: int = 0
) -> Iterator[dict[str, float]]:
    """Run L-BFGS on the pixels, one iteration per ``next()``, without end.

    Each iteration evaluates the objective once (no line search, step 1, as Lua's
    optim.lbfgs used by Johnson et al.). After the i-th ``next()`` (i = 1, 2, ...), the
    yielded terms are the objective of iterate i - 1 (the one the step was taken from)
    and ``module.net.image`` holds iterate i. Pixels are not clamped while optimising;
    clamp the final image to [0, 1] before saving or measuring it.
    """
    module.net = PixelImage(start)
    optimizer = torch.optim.LBFGS(
        module.net.parameters(),
        lr=1.0,
        max_iter=1,
        history_size=HISTORY_SIZE,
        tolerance_grad=-1.0,  # never stop early: the caller decides how many iterations
        tolerance_change=-1.0,
    )
    terms: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        with fixed_randomness(seed, content.device):  # the same objective at every evaluation
            terms.update(module.losses(content))
        terms["total"].backward()
        return terms["total"]

    while True:
        optimizer.step(closure)
        yield {k: float(v.detach()) for k, v in terms.items()}

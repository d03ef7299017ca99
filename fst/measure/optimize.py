"""The optimisation baseline (Gatys et al. 2016): L-BFGS on the pixels of one image.

It minimises exactly the training objective: a PerceptualLoss (fst.loss.objective) with
every setting of training (weights, layers, any style loss), evaluated on the image
itself instead of a network's output. fst.measure.evaluate scores trained networks
against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fst.errors import FstError
from fst.loss.objective import PerceptualLoss

INITS = ("content", "noise")
HISTORY_SIZE = 100  # L-BFGS correction pairs kept (as in Johnson's neural-style)


@contextmanager
def fixed_randomness(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generators (CPU, and ``device`` if CUDA) inside; restore them after."""
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def measure(objective: PerceptualLoss, image: torch.Tensor, content: torch.Tensor, seed: int = 0) -> dict:
    """Objective terms (floats) of ``image`` for ``content``, both (1, 3, H, W) in [0, 1].

    Random parts of a style loss (sampled positions) are drawn from ``seed``.
    """
    with torch.no_grad(), fixed_randomness(seed, content.device):
        return {k: float(v) for k, v in objective(image, content).items()}


def start_image(content: torch.Tensor, init: str, seed: int = 0) -> torch.Tensor:
    """The first iterate: the content image itself, or uniform noise in [0, 1]."""
    if init not in INITS:
        raise FstError(f"unknown --init {init!r} (choose from {', '.join(INITS)})")
    if init == "content":
        return content.clone()
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(content.shape, generator=generator).to(content.device)


def lbfgs_iterations(
    objective: PerceptualLoss, content: torch.Tensor, image: torch.Tensor, seed: int = 0
) -> Iterator[dict[str, float]]:
    """Run L-BFGS on the pixels of ``image``, one iteration per ``next()``, without end.

    image: (1, 3, H, W), the first iterate; optimised in place (it becomes a leaf that
    requires grad). Each iteration evaluates the objective once (no line search, step 1,
    as Lua's optim.lbfgs used by Johnson et al.). After the i-th ``next()`` (i = 1, 2,
    ...), the yielded terms are the objective of iterate i - 1 (the one the step was taken
    from) and ``image`` holds iterate i. Pixels are not clamped while optimising; clamp
    the final image to [0, 1] before saving or measuring it.
    """
    image.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [image],
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
            terms.update(objective(image, content))
        terms["total"].backward()
        return terms["total"]

    while True:
        optimizer.step(closure)
        yield {k: float(v.detach()) for k, v in terms.items()}

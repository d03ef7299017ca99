"""Stop training the moment it diverges, before a NaN or infinity reaches the weights.

A non-finite loss or gradient means the run has diverged (learning rate or loss weights
too large, a broken input): every later step, and every checkpoint written after it,
would be garbage. StopOnDivergence checks the loss and the gradients after each
backward pass and *before* the optimizer step, so the weights, and so every checkpoint
already written (``last.ckpt`` included), stay those of the last good step.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch

from fst.errors import FstError


class StopOnDivergence(pl.Callback):
    """Raise FstError naming the step when the loss or a gradient is NaN or infinite.

    Under DDP every process makes the same decision (gradients are already averaged,
    and the loss check is reduced across processes), so none is left waiting. With a
    float16 GradScaler, infinite gradients are the scaler's business (it skips those
    steps and lowers the scale), so only the loss is checked.
    """

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        self.loss = loss.detach()

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        loss = self.loss if self.loss is not None else torch.tensor(0.0)
        finite = bool(torch.isfinite(loss).all())
        scaled = getattr(trainer.precision_plugin, "scaler", None) is not None
        if finite and not scaled:
            grads = [
                p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None
            ]
            largest = torch.nn.utils.get_total_norm(grads, norm_type=math.inf) if grads else torch.tensor(0.0)
            finite = bool(torch.isfinite(largest))
        if trainer.strategy.reduce_boolean_decision(finite, all=True):
            return
        folder = getattr(trainer.checkpoint_callback, "dirpath", None)
        saved = folder is not None and any(Path(folder).glob("*.ckpt"))
        kept = f"every checkpoint in {folder} is from before it" if saved else "no checkpoint was written yet"
        cause = "loss" if not torch.isfinite(loss).all() else "gradients"
        step = trainer.global_step + 1
        raise FstError(
            f"training diverged at step {step} (non-finite {cause}, loss {loss.item():.4g}): stopped before "
            f"updating the weights; {kept}. Lower --model.lr or the loss weights and train again."
        )

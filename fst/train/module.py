"""The LightningModule: a stylisation network trained against a PerceptualLoss.

It wraps two plain modules, ``net`` (fst.models) and ``loss`` (fst.loss.objective, built
from a LossConfig and the painting), and adds what training needs around them: the
optimizer, TensorBoard curves and sample images, and checkpoints without the frozen VGG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from fst.errors import FstError
from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss, load_style_image
from fst.loss.vgg import check_input_side
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig
from fst.train.schedule import lr_factor
from fst.train.warm_start import copy_weights


class StyleTransferModule(pl.LightningModule):
    """Trains one stylisation network for one painting.

    Args:
        style_image: path of the painting.
        loss: the objective's settings (fst.loss.config.LossConfig; ``--model.loss.*``), or
            their to_dict() values (as in hparams["loss"]).
        width, num_res_blocks: network size (32 and 5 in the paper); width None: the
            arch's default (32 for "johnson", 16 for "fast").
        arch: "johnson" (the paper's network) or "fast" (real time on CPUs, fst/models/fast.py).
        channels_last: keep the networks and batches in NHWC memory layout: the same maths,
            faster convolutions on some hardware (benchmarks/RESULTS.md: with bf16-mixed
            precision, 1.4x less CPU time per step on an AMX CPU).
        lr: Adam learning rate (the peak, with a schedule).
        lr_schedule: "constant", or "cosine": a linear warm-up over ``warmup_steps``, then a
            cosine decay to 0 at the last step (fst.train.schedule).
        warmup_steps: steps of linear warm-up from 0 to ``lr`` (either schedule).
        init_from: start from the weights of a trained network of the same architecture (a
            shipped style name, a .safetensors model file or a .ckpt) instead of from scratch.
        sample_every_n_steps: how often to log stylized sample photos to TensorBoard.
    """

    def __init__(
        self,
        style_image: str,
        loss: LossConfig = LossConfig(),  # a shared default: never mutated
        width: int | None = None,
        num_res_blocks: int = 5,
        arch: Literal["johnson", "fast"] = "johnson",
        channels_last: bool = False,
        lr: float = 1e-3,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        warmup_steps: int = 0,
        init_from: str | None = None,
        sample_every_n_steps: int = 500,
    ):
        super().__init__()
        if isinstance(loss, Mapping):  # hparams["loss"] as stored: StyleTransferModule(**hparams)
            loss = LossConfig.from_dict(loss, "model.loss")
        self.save_hyperparameters(ignore=["loss"])
        # Plain values (checkpoints load with weights_only); through save_hyperparameters,
        # so the logger's hparams.yaml (hparams_initial) holds them too.
        self.save_hyperparameters({"loss": loss.to_dict()})
        style = load_style_image(style_image, loss.style_size)  # fails fast, before VGG loads
        check_input_side(*style.shape[-2:], loss.style_layers, f"{style_image} (at --model.loss.style_size)")
        self.net = build_transformer(TransformerConfig(width=width, num_res_blocks=num_res_blocks, arch=arch))
        if init_from is not None:
            copy_weights(init_from, self.net)
        self.loss = PerceptualLoss(loss, [style], [Path(style_image).stem])
        self.strict_loading = False  # checkpoints leave out the frozen VGG weights
        self.sample_photos: torch.Tensor | None = None
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> stylized, same shape."""
        return self.net(x)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for a content batch (N, 3, H, W); "total" is the objective."""
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.loss(self.net(x), x)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms = self.losses(batch)
        # sync_dist: under DDP, log the mean over all processes (the global batch's loss).
        self.log_dict(
            {f"loss/{k}": v for k, v in terms.items() if not k.startswith("style_")}, sync_dist=True
        )
        self.log_dict(
            {f"style_layers/{k[6:]}": v for k, v in terms.items() if k.startswith("style_")}, sync_dist=True
        )
        self.log("loss", terms["total"], prog_bar=True, logger=False)
        return terms["total"]

    def on_train_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "sample_batch"):
            self.sample_photos = datamodule.sample_batch()
        self.log_samples()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.trainer.global_step % self.hparams.sample_every_n_steps == 0:
            self.log_samples()

    @torch.no_grad()
    def log_samples(self) -> None:
        """Photos (top row) and their stylized versions (bottom row) to TensorBoard."""
        if self.sample_photos is None or not isinstance(self.logger, TensorBoardLogger):
            return
        photos = self.sample_photos.to(self.device)
        grid = make_grid(torch.cat([photos, self.net(photos)]), nrow=len(photos), padding=2)
        self.logger.experiment.add_image("samples", grid, self.global_step)

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        optimizer = torch.optim.Adam(self.net.parameters(), lr=hp.lr)
        total = self.trainer.estimated_stepping_batches  # --trainer.max_steps, or the epochs' batches
        if math.isinf(total) and hp.lr_schedule != "constant":
            raise FstError(f"lr_schedule {hp.lr_schedule} needs a length: set --trainer.max_steps")
        factor = lr_factor(hp.lr_schedule, hp.warmup_steps, 0 if math.isinf(total) else int(total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("loss.vgg.")]:
            del state[key]

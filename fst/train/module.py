"""The LightningModule: a stylisation network trained against a PerceptualLoss.

It wraps two plain modules, ``net`` (fst.models) and ``loss`` (fst.loss.objective, built
from a LossConfig and the painting), and adds what training needs around them: the
optimizer, TensorBoard curves and sample images, and checkpoints without the frozen VGG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from fst.errors import FstError
from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss, load_style_image
from fst.loss.vgg import check_input_side
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig
from fst.train.paintings import painting_paths
from fst.train.schedule import lr_factor
from fst.train.stability import stability_loss
from fst.train.warm_start import copy_weights, extended_network


class StyleTransferModule(pl.LightningModule):
    """Trains one stylisation network for one painting, or for several at once.

    Args:
        style_image: path of the painting; or a folder of paintings, or a list of them: one
            network holding a style per painting (conditional instance norm, fst.models.
            conditional), each training image drawn against a random one of them.
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
            shipped style name, a .safetensors model file or a .ckpt) instead of from scratch;
            a single-style one can start every style of a multi-style run.
        extend: a trained network (as for init_from) to add the painting(s) to: the new
            network holds its styles and the new ones, and only the new styles' γ/β are
            trained; every other tensor stays bit for bit as it was.
        stability_weight: weight of the stability term (fst.train.stability: outputs agree
            when the photo moves by a few pixels and gains noise; less flicker in video).
            0 leaves it out (and its cost: one more pass of the network per step).
        sample_every_n_steps: how often to log stylized sample photos to TensorBoard.
    """

    def __init__(
        self,
        style_image: str | list[str],
        loss: LossConfig = LossConfig(),  # a shared default: never mutated
        width: int | None = None,
        num_res_blocks: int = 5,
        arch: Literal["johnson", "fast"] = "johnson",
        channels_last: bool = False,
        lr: float = 1e-3,
        lr_schedule: Literal["constant", "cosine"] = "constant",
        warmup_steps: int = 0,
        init_from: str | None = None,
        extend: str | None = None,
        stability_weight: float = 0.0,
        sample_every_n_steps: int = 500,
    ):
        super().__init__()
        if isinstance(loss, Mapping):  # hparams["loss"] as stored: StyleTransferModule(**hparams)
            loss = LossConfig.from_dict(loss, "model.loss")
        self.save_hyperparameters(ignore=["loss"])
        # Plain values (checkpoints load with weights_only); through save_hyperparameters,
        # so the logger's hparams.yaml (hparams_initial) holds them too.
        self.save_hyperparameters({"loss": loss.to_dict()})
        self.paintings = painting_paths(style_image)
        styles = [load_style_image(path, loss.style_size) for path in self.paintings]  # fails fast
        for path, style in zip(self.paintings, styles, strict=True):
            check_input_side(*style.shape[-2:], loss.style_layers, f"{path} (at --model.loss.style_size)")
        if extend is not None:  # the source's styles first, then the new ones
            self.net, self.old_styles = extended_network(extend, len(styles))
        else:
            config = TransformerConfig(
                width=width, num_res_blocks=num_res_blocks, arch=arch, num_styles=len(styles)
            )
            self.net, self.old_styles = build_transformer(config), ()
        if init_from is not None:
            copy_weights(init_from, self.net)
        self.loss = PerceptualLoss(loss, styles, [path.stem for path in self.paintings])
        self.style_names = [name for name, _ in self.old_styles] + self.loss.names
        self.strict_loading = False  # checkpoints leave out the frozen VGG weights
        self.sample_photos: torch.Tensor | None = None
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> stylized, same shape; style: (N,) index of the
        painting of each image (None: the first)."""
        if len(self.style_names) == 1:
            return self.net(x)
        index = torch.zeros(len(x), dtype=torch.long, device=x.device) if style is None else style
        weights = F.one_hot(index + len(self.old_styles), len(self.style_names))
        return self.net(x, weights.to(x.dtype))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for a content batch (N, 3, H, W), each image against a random
        painting of the run; "total" is the objective."""
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        style = (
            torch.randint(len(self.paintings), (len(x),), device=x.device)
            if len(self.paintings) > 1
            else None
        )
        output = self(x, style)
        terms = self.loss(output, x, style)
        if self.hparams.stability_weight > 0:
            terms["stability"] = stability_loss(lambda moved: self(moved, style), x, output)
            terms["total"] = terms["total"] + self.hparams.stability_weight * terms["stability"]
        return terms

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
        style = torch.arange(len(photos), device=self.device) % len(self.paintings)  # several: one each
        grid = make_grid(torch.cat([photos, self(photos, style)]), nrow=len(photos), padding=2)
        self.logger.experiment.add_image("samples", grid, self.global_step)

    def optimizer(self) -> torch.optim.Optimizer:
        """Adam over the trained tensors (with --model.extend: the style parameters only)."""
        trained = self.net.style_parameters() if self.old_styles else self.net.parameters()
        return torch.optim.Adam(trained, lr=self.hparams.lr)

    def configure_optimizers(self) -> dict:
        hp, optimizer = self.hparams, self.optimizer()
        total = self.trainer.estimated_stepping_batches  # --trainer.max_steps, or the epochs' batches
        if math.isinf(total) and hp.lr_schedule != "constant":
            raise FstError(f"lr_schedule {hp.lr_schedule} needs a length: set --trainer.max_steps")
        factor = lr_factor(hp.lr_schedule, hp.warmup_steps, 0 if math.isinf(total) else int(total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # The network as built (with --model.extend: the source's size, plus the styles) and
        # its style names, beside the hyper-parameters (which Lightning parses on resume), so
        # fst.infer.model_file.load_checkpoint rebuilds it from the checkpoint alone.
        checkpoint["network"] = self.net.config.to_dict()
        if self.net.config.num_styles > 1:
            checkpoint["network"]["styles"] = [*self.style_names]
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("loss.vgg.")]:
            del state[key]

"""The LightningModule: a TransformerNet trained against a frozen VGG-16 perceptual loss.

loss = content_weight · content(φ(y), φ(x))
     + style_weight · Σ_l w_l · style_l(φ_l(y), target_l)
     + tv_weight · TV(y)
with x the content batch, y = net(x), φ the VGG-16 features (see fst.losses for the
normalisation of each term). style_l is the configured member of the style-loss family
(fst.style_losses: gram, linear, poly, gaussian, bn, or a weighted fusion).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torchvision.transforms import functional as TF
from torchvision.utils import make_grid

from fst.errors import FstError
from fst.imageio import load_rgb
from fst.losses import content_loss, total_variation
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig
from fst.models.vgg import RELU_NAMES, VGG16Features, check_input_side
from fst.style_losses import LayerStyleLoss, parse_style_loss

DEFAULT_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def load_style_image(path: str | Path, size: int | None) -> torch.Tensor:
    """Style image as (1, 3, H, W) in [0, 1], long side scaled to ``size`` if given."""
    img = load_rgb(path)
    if size:
        scale = size / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), 1)
    return TF.to_tensor(img).unsqueeze(0)


class StyleTransferModule(pl.LightningModule):
    """Trains one TransformerNet for one style.

    Args:
        style_image: path of the painting.
        content_weight, style_weight, tv_weight: weights of the three loss terms.
        style_loss: which style loss: gram, linear, poly, gaussian or bn, or a fusion
            {name: weight, ...}; a weight may be {weight: w, <option>: value} (e.g.
            {poly: {c: 0, d: 3}}). Each loss is pre-scaled to gram's strength, so
            style_weight needs no re-tuning (docs/style-losses.md).
        style_size: the style image's long side is scaled to this many pixels (None: as is).
        content_layer: VGG-16 layer of the content loss.
        style_layers: VGG-16 layers of the style loss.
        style_layer_weights: one weight per style layer (default: 1 each).
        vgg_weights: "caffe" (original VGG-16), "torchvision", or a weights file path.
        width, num_res_blocks: network size (32 and 5 in the paper); width None: the
            arch's default (32 for "johnson", 16 for "fast").
        arch: "johnson" (the paper's network) or "fast" (real time on CPUs, fst/models/fast.py).
        channels_last: keep the networks and batches in NHWC memory layout: the same maths,
            faster convolutions on some hardware (benchmarks/RESULTS.md: with bf16-mixed
            precision, 1.4x less CPU time per step on an AMX CPU).
        lr: Adam learning rate.
        sample_every_n_steps: how often to log stylized sample photos to TensorBoard.
    """

    def __init__(
        self,
        style_image: str,
        content_weight: float = 1.0,
        style_weight: float = 3.0,
        tv_weight: float = 1.0,
        style_loss: dict[str, float | dict[str, float]] | str = "gram",
        style_size: int | None = 512,
        content_layer: str = "relu2_2",
        style_layers: list[str] = list(DEFAULT_STYLE_LAYERS),  # noqa: B006 - never mutated
        style_layer_weights: list[float] | None = None,
        vgg_weights: str = "caffe",
        width: int | None = None,
        num_res_blocks: int = 5,
        arch: Literal["johnson", "fast"] = "johnson",
        channels_last: bool = False,
        lr: float = 1e-3,
        sample_every_n_steps: int = 500,
    ):
        super().__init__()
        self.save_hyperparameters()
        unknown = sorted(set(style_layers + [content_layer]) - set(RELU_NAMES))
        if unknown:
            raise FstError(f"unknown VGG-16 layers {unknown}; choose from {', '.join(RELU_NAMES)}")
        if style_layer_weights is not None and len(style_layer_weights) != len(style_layers):
            raise FstError("style_layer_weights needs one weight per style layer")
        layer_weights = style_layer_weights or [1.0] * len(style_layers)
        self.layer_weights = dict(zip(style_layers, layer_weights, strict=True))
        style_terms = parse_style_loss(style_loss)
        style = load_style_image(style_image, style_size)  # fails fast, before VGG loads
        check_input_side(*style.shape[-2:], style_layers, f"{style_image} (at --model.style_size)")
        self.net = build_transformer(TransformerConfig(width=width, num_res_blocks=num_res_blocks, arch=arch))
        self.vgg = VGG16Features(vgg_weights)
        self.strict_loading = False  # checkpoints leave out the frozen VGG weights
        with torch.no_grad():
            feats = self.vgg(style, style_layers)
        # One module per layer; its buffers hold the style targets (device, checkpoints).
        self.style_losses = nn.ModuleDict(
            {name: LayerStyleLoss(style_terms, feats[name]) for name in style_layers}
        )
        self.sample_photos: torch.Tensor | None = None
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> stylized, same shape."""
        return self.net(x)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for a content batch (N, 3, H, W); "total" is the objective."""
        hp = self.hparams
        if hp.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.net(x)
        feats = self.vgg(y, list(self.layer_weights) + [hp.content_layer])
        with torch.no_grad():
            target = self.vgg(x, [hp.content_layer])[hp.content_layer]
        out = {"content": content_loss(feats[hp.content_layer], target)}
        style, per_loss = 0.0, {}
        for layer, weight in self.layer_weights.items():
            parts = self.style_losses[layer](feats[layer])
            out[f"style_{layer}"] = sum(parts.values())
            style = style + weight * out[f"style_{layer}"]
            for name, value in parts.items():
                per_loss[name] = per_loss.get(name, 0.0) + weight * value
        out["style"] = style
        if len(per_loss) > 1:  # a fusion: each member's share, e.g. "style.gram"
            out.update({f"style.{name}": value for name, value in per_loss.items()})
        out["tv"] = total_variation(y)
        out["total"] = hp.content_weight * out["content"] + hp.style_weight * style + hp.tv_weight * out["tv"]
        return out

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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.hparams.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("vgg.")]:
            del state[key]

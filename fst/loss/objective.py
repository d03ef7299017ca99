"""The perceptual objective as one object: LossConfig (settings) -> PerceptualLoss (nn.Module).

    loss = content_weight · content(φ(y), φ(x))
         + style_weight · k[s] · Σ_l w_l · style_l(φ_l(y), target_l[s])
         + tv_weight · TV(y)

x the content batch, y the stylized batch, φ the frozen VGG-16 features, s the painting
each image is scored against (one target set per painting: a PerceptualLoss holds N
styles). style_l is the configured member of the style-loss family (fst.loss.style_losses);
the terms are normalised as fst.loss.terms explains. k[s] is 1, or with calibrate_style
1 / D(s), the inverse of the style term of unstylized photos (fst.loss.calibration).

Training (fst.train.module), the L-BFGS baseline (fst.measure.optimize) and evaluation
(fst.measure.evaluate) all build this one module; model files store the LossConfig and
the (resized) style images, so the objective of a trained network can be rebuilt exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from fst.errors import FstError
from fst.imageio import load_rgb
from fst.loss.calibration import reference_photos
from fst.loss.config import LossConfig
from fst.loss.style_losses import LayerStyleLoss, parse_style_loss
from fst.loss.terms import content_loss, total_variation
from fst.loss.vgg import VGG16Features, check_input_side


def load_style_image(path: str | Path, size: int | None) -> torch.Tensor:
    """An image as (1, 3, H, W) in [0, 1], long side scaled to ``size`` pixels if given."""
    return image_to_tensor(resize_long_side(load_rgb(path), size))


def resize_long_side(img: Image.Image, size: int | None) -> Image.Image:
    """``img`` with its long side scaled to ``size`` (Lanczos; None or same size: unchanged)."""
    if not size or max(img.size) == size:
        return img
    scale = size / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB Pillow image -> (1, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0)


def style_png(path: str | Path, size: int | None) -> bytes:
    """The style image as training sees it (long side ``size``), PNG-encoded (lossless):
    stored in model files so the exact style targets can be rebuilt."""
    buffer = io.BytesIO()
    resize_long_side(load_rgb(path), size).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def png_to_tensor(data: bytes, origin: str) -> torch.Tensor:
    """PNG bytes from a model file -> (1, 3, H, W) in [0, 1]; FstError if undecodable."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return image_to_tensor(img)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FstError(f"{origin}: stored style image is not a readable PNG ({exc})") from None


class PerceptualLoss(nn.Module):
    """The objective: frozen VGG-16 + one set of style targets per painting.

    Built from a LossConfig and N style images, each (1, 3, H, W) in [0, 1] (already at
    style_size; see from_files). The targets live in buffers, so they follow the module
    to a device and into checkpoints, as does ``style_scale`` (S,), the factor k[s] of
    each painting's style term. ``forward(output, content, style)`` returns the named
    terms; "total" is the objective.
    """

    def __init__(self, config: LossConfig, styles: Sequence[torch.Tensor], names: Sequence[str] = ()):
        super().__init__()
        if not styles:
            raise FstError("the objective needs at least one style image")
        self.config = config
        self.styles = [style.detach().cpu() for style in styles]
        self.names = list(names) or [f"style{i}" for i in range(len(styles))]
        for name, style in zip(self.names, styles, strict=True):
            check_input_side(*style.shape[-2:], config.style_layers, f"style image {name} (at style_size)")
        terms = parse_style_loss(config.style_loss)
        self.vgg = VGG16Features(config.vgg_weights)
        self.targets = nn.ModuleList()
        for style in styles:
            with torch.no_grad():
                feats = self.vgg(style, config.style_layers)
            self.targets.append(
                nn.ModuleDict({layer: LayerStyleLoss(terms, feats[layer]) for layer in config.style_layers})
            )
        scale = (
            1 / self.photo_style_terms(reference_photos())
            if config.calibrate_style
            else torch.ones(len(styles))
        )
        self.register_buffer("style_scale", scale)

    @torch.no_grad()
    def photo_style_terms(self, photos: torch.Tensor) -> torch.Tensor:
        """(S,) uncalibrated style term of each painting, averaged over ``photos`` (P, 3, H, W)
        scored as they are (D(s) of fst.loss.calibration for the reference photos)."""
        feats = self.vgg(photos.to(self.vgg.mean.device), self.config.style_layers)
        return torch.tensor(
            [
                float(
                    sum(
                        w * sum(targets[layer](feats[layer]).values())
                        for layer, w in self.config.layer_weights.items()
                    )
                )
                for targets in self.targets
            ]
        )

    @classmethod
    def from_files(cls, config: LossConfig, paths: Sequence[str | Path]) -> PerceptualLoss:
        """The objective for style image files (each read and scaled to config.style_size)."""
        styles = [load_style_image(path, config.style_size) for path in paths]
        return cls(config, styles, [Path(path).stem for path in paths])

    @classmethod
    def from_stored(
        cls, settings: Mapping[str, object], style_pngs: Sequence[bytes], names: Sequence[str], origin: str
    ) -> PerceptualLoss:
        """The objective stored in a model file: LossConfig values and PNG style images."""
        config = LossConfig.from_dict(settings, origin)
        return cls(config, [png_to_tensor(data, origin) for data in style_pngs], names)

    def fingerprint(self) -> str:
        """A digest of everything the objective's values depend on: settings and style pixels."""
        digest = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
        for style in self.styles:
            digest.update(style.cpu().numpy().tobytes())
        return digest.hexdigest()

    def content_features(self, content: torch.Tensor) -> torch.Tensor:
        """φ(content) at the content layer, no gradient: (N, C, H', W')."""
        with torch.no_grad():
            return self.vgg(content, [self.config.content_layer])[self.config.content_layer]

    def forward(
        self, output: torch.Tensor, content: torch.Tensor, style: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Terms of stylized ``output`` for photos ``content``, both (N, 3, H, W) in [0, 1].

        style: (N,) index of the painting each image is scored against (None: all 0).
        Returns scalars: content, style, style_<layer> per layer, style.<loss> per member
        of a fusion, tv and total (the weighted sum).
        """
        cfg = self.config
        layer_weights = cfg.layer_weights
        feats = self.vgg(output, [*layer_weights, cfg.content_layer])
        out = {"content": content_loss(feats[cfg.content_layer], self.content_features(content))}
        groups = self._style_groups(style, len(output))
        per_layer: dict[str, torch.Tensor] = {}
        per_loss: dict[str, torch.Tensor] = {}
        for index, rows, share in groups:
            targets, share = self.targets[index], share * self.style_scale[index]
            for layer, weight in layer_weights.items():
                parts = targets[layer](feats[layer] if rows is None else feats[layer][rows])
                per_layer[layer] = per_layer.get(layer, 0.0) + share * sum(parts.values())
                for name, value in parts.items():
                    per_loss[name] = per_loss.get(name, 0.0) + share * weight * value
        for layer in layer_weights:
            out[f"style_{layer}"] = per_layer[layer]
        out["style"] = sum(weight * per_layer[layer] for layer, weight in layer_weights.items())
        if len(per_loss) > 1:  # a fusion: each member's share, e.g. "style.gram"
            out.update({f"style.{name}": value for name, value in per_loss.items()})
        out["tv"] = total_variation(output)
        out["total"] = (
            cfg.content_weight * out["content"] + cfg.style_weight * out["style"] + cfg.tv_weight * out["tv"]
        )
        return out

    def _style_groups(
        self, style: torch.Tensor | None, batch: int
    ) -> list[tuple[int, torch.Tensor | None, float]]:
        """(style index, rows of the batch or None for all, share of the batch) per painting used."""
        if style is None:
            return [(0, None, 1.0)]
        if style.shape != (batch,) or int(style.min()) < 0 or int(style.max()) >= len(self.targets):
            got = f"shape {tuple(style.shape)}"
            got += f", values {int(style.min())}..{int(style.max())}" if style.numel() else ""
            raise ValueError(f"style must be ({batch},) indices below {len(self.targets)}, got {got}")
        indices = style.unique().tolist()
        if len(indices) == 1:
            return [(indices[0], None, 1.0)]
        return [(i, (style == i).nonzero().squeeze(1), float((style == i).sum()) / batch) for i in indices]

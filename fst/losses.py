"""Perceptual-loss terms as pure tensor functions.

Feature maps are (N, C, H, W). Normalisation (documented in README, "Losses"):

- gram_matrix divides by C*H*W, so a Gram is independent of the feature map size.
- content and style losses are *relative* squared errors: the mean squared error
  divided by the mean square of the target. A value of 1 means "as far from the
  target as zero is", whatever the scale of the VGG features. This makes the same
  default weights work for both weight flavours ("caffe" features are ~60x larger
  than "torchvision" ones) and for every layer.
- total_variation is the mean absolute difference of neighbouring pixels of an
  image in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C): F Fᵀ / (C·H·W), F the (C, H·W) feature matrix."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def relative_mse(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean((value - target)²) / mean(target²); target broadcasts over value; scalar."""
    scale = target.detach().pow(2).mean().clamp_min(1e-12)
    return F.mse_loss(value, target.expand_as(value)) / scale


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative feature reconstruction error between (N, C, H, W) maps; scalar."""
    return relative_mse(features, target)


def gram_style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative Gram error of (N, C, H, W) features against a (1, C, C) target; scalar."""
    return relative_mse(gram_matrix(features), target_gram)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]| of (N, C, H, W); scalar."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy

"""Perceptual-loss terms as pure tensor functions.

Feature maps are (N, C, H, W). Normalisation (documented in README, "Losses"):

- gram_matrix divides by C*H*W, so a Gram is independent of the feature map size.
- content and style losses are *relative* squared errors: the mean squared error
  divided by the mean square of the target. A value of 1 means "as far from the
  target as zero is", whatever the scale of the VGG features. This makes the same
  default weights work for both weight flavours ("caffe" features are ~60x larger
  than "torchvision" ones) and for every layer.
- The style losses are distances between the distribution of the output's feature
  vectors (one sample per spatial position) and the style image's (docs/style-losses.md):
  an MMD² under a kernel k is divided by the style's self-similarity E k(s, s'), which
  for k(x, y) = (xᵀy)² is exactly the relative Gram error and for k(x, y) = xᵀy the
  relative error of the channel means. The Gaussian-kernel MMD² is dimensionless
  already (k ∈ (0, 1], bandwidth from the data) and is not divided.
- total_variation is the mean absolute difference of neighbouring pixels of an
  image in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb

import torch
import torch.nn.functional as F

Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


def channel_mean(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C): the mean feature vector over all positions."""
    return features.mean(dim=(2, 3))


def mean_style_loss(features: torch.Tensor, target_mean: torch.Tensor) -> torch.Tensor:
    """Linear-kernel MMD² ‖μ_x − μ_s‖² relative to ‖μ_s‖²; target (1, C); scalar."""
    return relative_mse(channel_mean(features), target_mean)


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(N, C, H, W) -> (N, 2, C): per-channel mean and standard deviation √(var + eps).

    The population variance (divide by H·W), as batch norm computes it.
    """
    var, mean = torch.var_mean(features, dim=(2, 3), correction=0)
    return torch.stack([mean, (var + eps).sqrt()], dim=1)


def bn_style_loss(features: torch.Tensor, target_stats: torch.Tensor) -> torch.Tensor:
    """(‖μ_x − μ_s‖² + ‖σ_x − σ_s‖²) / (‖μ_s‖² + ‖σ_s‖²); target (1, 2, C) from mean_std; scalar."""
    return relative_mse(mean_std(features), target_stats)


def poly_moments(features: torch.Tensor, unit: torch.Tensor, degree: int) -> list[torch.Tensor]:
    """Moments of x̃ = x / unit over positions, orders 1..degree (degree ≤ 2).

    Returns [E x̃ (N, C)] or [E x̃ (N, C), E x̃x̃ᵀ (N, C, C)]: the mean feature maps of the
    polynomial kernel's expansion (xᵀy + c)^d = Σ_k C(d, k) c^(d−k) (xᵀy)^k.
    """
    if degree not in (1, 2):
        raise ValueError(f"poly_moments needs degree 1 or 2, got {degree}")
    scaled = features / unit
    moments = [channel_mean(scaled)]
    if degree == 2:
        moments.append(gram_matrix(scaled) * scaled.shape[1])
    return moments


def poly_style_loss(
    features: torch.Tensor, target_moments: list[torch.Tensor], unit: torch.Tensor, c: float, degree: int
) -> torch.Tensor:
    """Exact MMD² with k(x, y) = (x̃ᵀỹ + c)^d, d ≤ 2, relative to E k(s, s'); scalar.

    MMD² = Σ_{k=1..d} C(d, k) c^(d−k) ‖m_k(x) − m_k(s)‖² (batch mean) and
    E k(s, s') = Σ_{k=0..d} C(d, k) c^(d−k) ‖m_k(s)‖², m_0 = 1; target_moments from
    poly_moments of the style features (batch 1). With c = 0, d = 2 this is gram_style_loss.
    """
    moments = poly_moments(features, unit, degree)
    mmd, self_similarity = 0.0, c**degree
    for k, (moment, target) in enumerate(zip(moments, target_moments, strict=True), start=1):
        coefficient = comb(degree, k) * c ** (degree - k)
        mmd = mmd + coefficient * (moment - target).pow(2).flatten(1).sum(1).mean()
        self_similarity = self_similarity + coefficient * target.detach().pow(2).sum()
    return mmd / self_similarity.clamp_min(1e-12)


def position_pairs(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each map's positions at random into two halves: (N, P, C) each, P = ⌊H·W / 2⌋.

    Row i of both halves is one pair of distinct positions; pairs are disjoint.
    """
    n, c, h, w = features.shape
    if h * w < 2:
        raise ValueError(f"random pairs need at least 2 positions, got a {h}x{w} feature map")
    vectors = features.reshape(n, c, h * w).transpose(1, 2)
    order = torch.randperm(h * w, device=features.device)
    half = h * w // 2
    return vectors[:, order[:half]], vectors[:, order[half : 2 * half]]


def sample_pairs(sample: torch.Tensor, n: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, C) vectors -> two (n, p, C) draws with replacement: n·p random pairs."""
    index = torch.randint(len(sample), (2, n, p), device=sample.device)
    return sample[index[0]], sample[index[1]]


def linear_time_mmd(
    x1: torch.Tensor, x2: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor, kernel: Kernel
) -> torch.Tensor:
    """Unbiased linear-time MMD² estimate (Gretton et al. 2012) from pairs (x1, x2) of one
    sample and (s1, s2) of the other; rows (..., P, C); returns (...,) means over the P pairs.

    h = k(x1, x2) + k(s1, s2) − k(x1, s2) − k(x2, s1), kernel(a, b) row-wise over the last dim.
    """
    return (kernel(x1, x2) + kernel(s1, s2) - kernel(x1, s2) - kernel(x2, s1)).mean(dim=-1)


def squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖a − b‖² row-wise over the last dim: (..., C) -> (...)."""
    return (a - b).pow(2).sum(dim=-1)


def gaussian_mmd(x1: torch.Tensor, x2: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Linear-time MMD² with k(a, b) = exp(−‖a − b‖² / 2σ²) on pairs (..., P, C); returns (...,).

    σ² is the mean squared distance of the 4·P pairs the estimate uses (Li et al. 2017),
    one per leading index, held constant for the gradient.
    """
    with torch.no_grad():
        pairs = ((x1, x2), (s1, s2), (x1, s2), (x2, s1))
        sigma_sq = torch.stack([squared_distance(a, b) for a, b in pairs]).mean(dim=(0, -1))
        two_sigma_sq = 2 * sigma_sq.clamp_min(1e-12).unsqueeze(-1)

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-squared_distance(a, b) / two_sigma_sq)

    return linear_time_mmd(x1, x2, s1, s2, kernel)


def poly_kernel(unit: torch.Tensor, c: float, degree: int) -> Kernel:
    """k(a, b) = (aᵀb / unit² + c)^degree row-wise over the last dim."""

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a * b).sum(dim=-1) / unit**2 + c) ** degree

    return kernel


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean |x[i+1, j] - x[i, j]| + mean |x[i, j+1] - x[i, j]| of (N, C, H, W); scalar."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy

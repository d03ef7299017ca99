"""The style-loss family: Gram, linear / polynomial / Gaussian-kernel MMD, BN statistics.

Style is distribution alignment (Li, Wang, Liu & Hou 2017): each spatial position of a
VGG feature map is one sample, and a style loss measures how far the output's samples
are from the style image's. One StyleLoss module handles one VGG layer: built from the
style image's features there, (1, C, H, W), it precomputes its target and keeps it in
buffers (so the target follows the module to the GPU and into checkpoints); called with
the output's features, (N, C, H, W), it returns a scalar. The maths lives in fst.loss.terms;
docs/style-losses.md derives it and shows how each loss's ``scale`` was measured.

The config value (``--model.loss.style_loss``) is a name, ``gram``, or a mapping of names to
weights, ``{gram: 0.5, bn: 0.5}``; a weight may itself be a mapping that also sets the
loss's options, ``{poly: {weight: 1, c: 0, d: 3}}``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from fst.errors import FstError
from fst.loss.terms import (
    bn_style_loss,
    channel_mean,
    gaussian_mmd,
    gram_matrix,
    gram_style_loss,
    linear_time_mmd,
    mean_std,
    mean_style_loss,
    poly_kernel,
    poly_moments,
    poly_style_loss,
    position_pairs,
    sample_pairs,
)

StyleLossSpec = str | Mapping[str, float | Mapping[str, float]]


class StyleLoss(nn.Module):
    """One style loss at one VGG layer; ``scale`` makes its default weight match gram's.

    ``scale`` multiplies the loss so that, with the same ``style_weight``, its gradient on
    real photos is as strong as the Gram loss's (measured: docs/style-losses.md).
    """

    scale: ClassVar[float] = 1.0

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) output features -> scalar loss."""
        raise NotImplementedError


def style_vectors(style_features: torch.Tensor, samples: int) -> torch.Tensor:
    """(1, C, H, W) -> (S, C): up to ``samples`` feature vectors at distinct random positions.

    Drawn with a fixed seed, so one style image always gives the same sample.
    """
    if samples < 2:
        raise FstError(f"a style loss needs samples >= 2 style vectors, got {samples}")
    vectors = style_features[0].flatten(1).T
    generator = torch.Generator().manual_seed(0)
    keep = torch.randperm(len(vectors), generator=generator)[:samples]
    return vectors[keep.to(vectors.device)].clone()


def rms_norm(style_features: torch.Tensor) -> torch.Tensor:
    """√(E ‖s‖²) of the style feature vectors: the unit that makes x̃ = x / unit dimensionless."""
    return style_features.pow(2).sum(dim=1).mean().sqrt().clamp_min(1e-12)


class StatisticLoss(StyleLoss):
    """A style loss whose target is one statistic of the style features, kept in ``target``.

    Subclasses name the statistic, (N, C, H, W) -> tensor, and the distance(features, target).
    """

    statistic: ClassVar[Callable[[torch.Tensor], torch.Tensor]]
    distance: ClassVar[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

    def __init__(self, style_features: torch.Tensor):
        super().__init__()
        self.register_buffer("target", type(self).statistic(style_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return type(self).distance(features, self.target)


class GramLoss(StatisticLoss):
    """Gram matching (Gatys / Johnson) = MMD² with k(x, y) = (xᵀy)², relative to E k(s, s')."""

    scale = 1.0
    statistic = staticmethod(gram_matrix)
    distance = staticmethod(gram_style_loss)


class LinearLoss(StatisticLoss):
    """MMD² with k(x, y) = xᵀy: the squared distance of channel means, relative to ‖μ_s‖²."""

    scale = 1.6
    statistic = staticmethod(channel_mean)
    distance = staticmethod(mean_style_loss)


class BNLoss(StatisticLoss):
    """Match per-channel mean and standard deviation (batch-norm statistics), relative."""

    scale = 3.6
    statistic = staticmethod(mean_std)
    distance = staticmethod(bn_style_loss)


class PolyLoss(StyleLoss):
    """MMD² with k(x, y) = (x̃ᵀỹ + c)^d, x̃ = x / √(E_style ‖s‖²), relative to E k(s, s').

    d ≤ 2 is computed exactly from the first two moments (c = 0, d = 2 is gram). Higher
    degrees would need C^d-sized moment tensors, so they use the unbiased linear-time
    estimate over random pairs, against a fixed sample of ``samples`` style vectors.
    """

    scale = 7.2

    def __init__(self, style_features: torch.Tensor, c: float = 1.0, d: int = 2, samples: int = 2048):
        super().__init__()
        if d < 1 or c < 0:
            raise FstError(f"style loss poly needs d >= 1 and c >= 0, got d={d}, c={c}")
        self.c, self.d = c, d
        self.register_buffer("unit", rms_norm(style_features))
        if d <= 2:
            for k, moment in enumerate(poly_moments(style_features, self.unit, d), start=1):
                self.register_buffer(f"moment{k}", moment)
        else:
            sample = style_vectors(style_features, samples)
            self.register_buffer("sample", sample)
            self_similarity = ((sample @ sample.T) / self.unit**2 + c) ** d
            self.register_buffer("self_similarity", self_similarity.mean())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.d <= 2:
            targets = [getattr(self, f"moment{k}") for k in range(1, self.d + 1)]
            return poly_style_loss(features, targets, self.unit, self.c, self.d)
        x1, x2 = position_pairs(features)
        s1, s2 = sample_pairs(self.sample, *x1.shape[:2])
        mmd = linear_time_mmd(x1, x2, s1, s2, poly_kernel(self.unit, self.c, self.d))
        return mmd.mean() / self.self_similarity


class GaussianLoss(StyleLoss):
    """MMD² with k(x, y) = exp(−‖x − y‖² / 2σ²): unbiased linear-time estimate over random pairs.

    Every output position is in one pair per step; style pairs are drawn from a fixed
    sample of ``samples`` style vectors; σ² is the mean squared distance of the pairs.
    Dimensionless already (k ∈ (0, 1]); an estimate, so it can dip below zero.
    """

    scale = 26.0

    def __init__(self, style_features: torch.Tensor, samples: int = 2048):
        super().__init__()
        self.register_buffer("sample", style_vectors(style_features, samples))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x1, x2 = position_pairs(features)
        s1, s2 = sample_pairs(self.sample, *x1.shape[:2])
        return gaussian_mmd(x1, x2, s1, s2).mean()


STYLE_LOSSES: dict[str, type[StyleLoss]] = {
    "gram": GramLoss,
    "linear": LinearLoss,
    "poly": PolyLoss,
    "gaussian": GaussianLoss,
    "bn": BNLoss,
}


def every_loss(style_features: Mapping[str, torch.Tensor]) -> dict[str, dict[str, StyleLoss]]:
    """Every registered loss with default options and no scale, at every layer of
    ``style_features`` ({layer: (1, C, H, W)}): {loss name: {layer: StyleLoss}}. For measurements.
    """
    return {
        name: {layer: cls(features) for layer, features in style_features.items()}
        for name, cls in STYLE_LOSSES.items()
    }


@dataclass(frozen=True)
class StyleLossTerm:
    """One configured loss: its registry name, weight and constructor options."""

    name: str
    weight: float = 1.0
    options: dict[str, float | int] = field(default_factory=dict)


def _option_value(name: str, option: str, value: object, default: object) -> float | int:
    """A number for ``option`` of loss ``name``, an int where the default is one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FstError(f"style loss {name}: option {option} must be a number, got {value!r}")
    if isinstance(default, int):
        if value != int(value):
            raise FstError(f"style loss {name}: option {option} must be a whole number, got {value}")
        return int(value)
    return float(value)


def _term(name: str, setting: object) -> StyleLossTerm:
    if name not in STYLE_LOSSES:
        raise FstError(f"unknown style loss {name!r}; choose from {', '.join(STYLE_LOSSES)}")
    settings = dict(setting) if isinstance(setting, Mapping) else {"weight": setting}
    weight = settings.pop("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
        raise FstError(f"style loss {name}: weight must be a positive number, got {weight!r}")
    parameters = inspect.signature(STYLE_LOSSES[name]).parameters
    allowed = {key: p.default for key, p in parameters.items() if p.default is not inspect.Parameter.empty}
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        choices = ", ".join(["weight", *allowed])
        raise FstError(f"style loss {name}: unknown option(s) {', '.join(unknown)}; it takes {choices}")
    options = {key: _option_value(name, key, value, allowed[key]) for key, value in settings.items()}
    return StyleLossTerm(name, float(weight), options)


def parse_style_loss(spec: StyleLossSpec) -> list[StyleLossTerm]:
    """The terms of a ``style_loss`` config value: "gram", {gram: 0.5, bn: 0.5}, {poly: {d: 3}}."""
    if isinstance(spec, str):
        if spec in STYLE_LOSSES:
            return [StyleLossTerm(spec)]
        raise FstError(
            f"style_loss {spec!r} is neither a loss name ({', '.join(STYLE_LOSSES)}) nor a mapping "
            "of loss names to numeric weights such as '{gram: 0.5, bn: 0.5}'"
        )
    if not isinstance(spec, Mapping) or not spec:
        raise FstError(
            f"style_loss must be a loss name or a non-empty mapping of loss names to weights, not {spec!r}"
        )
    return [_term(name, setting) for name, setting in spec.items()]


class LayerStyleLoss(nn.ModuleDict):
    """The configured style losses at one layer; each term is weighted by weight · scale."""

    def __init__(self, terms: list[StyleLossTerm], style_features: torch.Tensor):
        super().__init__({t.name: STYLE_LOSSES[t.name](style_features, **t.options) for t in terms})
        self.weights = {t.name: t.weight * STYLE_LOSSES[t.name].scale for t in terms}

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, C, H, W) -> {loss name: weighted scalar}."""
        return {name: self.weights[name] * loss(features) for name, loss in self.items()}

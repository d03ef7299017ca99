"""Conditional instance normalization: one network, many styles (Dumoulin et al. 2017).

A network with ``num_styles`` S > 1 shares its convolutions between the styles; only the
scale and shift of every instance norm depend on the style: γ and β of shape (S, C), one
row per style. Styles mix by mixing those rows with weights w of shape (S,) (the same mix
for the whole batch) or (N, S) (one row per image):

    y = (x - mean) / sqrt(var + eps) * (w @ γ) + (w @ β)          mean, var: per image and channel

One-hot weights give one style; (0.5, 0.5) gives the network whose γ/β are the average of
two styles'. With S = 1 the layers are plain ``nn.InstanceNorm2d(C, affine=True)`` and the
network and its state_dict are those of a single-style network.

The style weights travel through the layers with the image: ``StyleSequential`` hands
them to every child that is a ``StyleModule`` (whose forward is ``forward(x, style)``).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn


class StyleModule(nn.Module):
    """A layer whose forward takes the style weights too: ``forward(x, style)``."""


class StyleSequential(nn.Sequential, StyleModule):
    """nn.Sequential that passes ``style`` on to its StyleModule children."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            x = layer(x, style) if isinstance(layer, StyleModule) else layer(x)
        return x


class ConditionalInstanceNorm2d(StyleModule):
    """Instance norm with per-style scale ``weight`` and shift ``bias``, both (S, C).

    forward(x, style): x (N, C, H, W); style (S,) or (N, S) mixing weights -> (N, C, H, W).
    """

    eps = 1e-5  # as nn.InstanceNorm2d

    def __init__(self, channels: int, num_styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_styles, channels))
        self.bias = nn.Parameter(torch.zeros(num_styles, channels))

    def mix(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The scale and shift for ``style``: (C,) each for (S,) weights, (N, C) for (N, S)."""
        style = style.to(self.weight.dtype)
        return style @ self.weight, style @ self.bias

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mix(style)
        if style.dim() == 1:  # one mix for the batch: a plain instance norm (one ONNX operator)
            return F.instance_norm(x, weight=scale, bias=shift, eps=self.eps)
        return F.instance_norm(x, eps=self.eps) * scale[..., None, None] + shift[..., None, None]


def instance_norm(channels: int, num_styles: int = 1) -> nn.Module:
    """The affine instance norm of a network holding ``num_styles`` styles."""
    if num_styles == 1:
        return nn.InstanceNorm2d(channels, affine=True)
    return ConditionalInstanceNorm2d(channels, num_styles)


def style_norms(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every norm layer holding style parameters, in module order."""
    return [
        (name, module)
        for name, module in net.named_modules()
        if isinstance(module, ConditionalInstanceNorm2d)
        or (isinstance(module, nn.InstanceNorm2d) and module.affine)
    ]


def add_style(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (a fst.models StyleNet) that holds one more style.

    Every shared tensor is copied bit for bit and the styles keep their γ/β rows; the new
    style (last row) starts at the mean of the existing styles' γ and β. A single-style
    network becomes a two-style one whose second style starts equal to the first.
    Returned in ``net``'s mode, dtype and device.
    """
    config = replace(net.config, num_styles=net.config.num_styles + 1)
    grown = type(net)(config).to(next(net.parameters()))
    state = net.state_dict()
    for name, _ in style_norms(net):
        for key in (f"{name}.weight", f"{name}.bias"):
            rows = state[key].reshape(net.config.num_styles, -1)  # (C,) of a single-style net -> (1, C)
            state[key] = torch.cat([rows, rows.mean(dim=0, keepdim=True)])
    grown.load_state_dict(state)
    return grown.train(net.training)

"""The textbook training step, as a reference for speed and correctness.

It computes the same objective as StyleTransferModule.losses with the Gram style loss
(the default), written the way a first implementation does it:

- VGG-16 runs to relu4_3 on the output *and* on the content batch (the content target
  only needs relu2_2);
- the style image goes through VGG-16 and its Gram matrices are recomputed every step;
- fp32, contiguous (NCHW) tensors, no autocast.

Only the maths is shared in spirit, not in code: Gram matrices are written with einsum
and the relative errors spelled out, so a bug in fst.loss.terms cannot hide here.
benchmarks/train_step.py times it against the real step; tests/test_train_step.py
checks both give the same loss and gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from fst.loss.vgg import VGG16Features

DEEPEST = "relu4_3"  # the textbook runs every VGG pass this deep


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), normalised by C·H·W."""
    n, c, h, w = features.shape
    return torch.einsum("nchw,ndhw->ncd", features, features) / (c * h * w)


def relative_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ(value - target)² / numel(value), divided by Σ target² / numel(target)."""
    target = target.expand_as(value)
    return ((value - target) ** 2).mean() / (target.detach() ** 2).mean()


def naive_losses(
    net: nn.Module,
    vgg: VGG16Features,
    style: torch.Tensor,
    x: torch.Tensor,
    hp: dict,
    layer_weights: dict[str, float],
) -> dict[str, torch.Tensor]:
    """content / style / tv / total for content batch ``x`` (N, 3, H, W) and the style
    image ``style`` (1, 3, H', W'); ``hp`` holds content_weight, style_weight, tv_weight
    and content_layer as in StyleTransferModule."""
    layers = [*layer_weights, hp["content_layer"], DEEPEST]
    y = net(x)
    out_features = vgg(y, layers)
    content_features = vgg(x, layers)
    style_features = vgg(style, layers)
    layer = hp["content_layer"]
    content = relative_error(out_features[layer], content_features[layer].detach())
    style_loss = sum(
        weight * relative_error(gram(out_features[name]), gram(style_features[name]).detach())
        for name, weight in layer_weights.items()
    )
    tv = (y[:, :, 1:, :] - y[:, :, :-1, :]).abs().mean() + (y[:, :, :, 1:] - y[:, :, :, :-1]).abs().mean()
    total = hp["content_weight"] * content + hp["style_weight"] * style_loss + hp["tv_weight"] * tv
    return {"content": content, "style": style_loss, "tv": tv, "total": total}


def naive_step(
    net: nn.Module,
    vgg: VGG16Features,
    style: torch.Tensor,
    x: torch.Tensor,
    hp: dict,
    layer_weights: dict[str, float],
    optimizer: torch.optim.Optimizer,
) -> float:
    """One optimisation step of ``net``; returns the loss (a Python float, as logged)."""
    optimizer.zero_grad()
    loss = naive_losses(net, vgg, style, x, hp, layer_weights)["total"]
    loss.backward()
    optimizer.step()
    return loss.item()

"""Networks: the stylisation networks and the frozen VGG-16 loss network.

``build_transformer(config)`` is the one way to make a stylisation network from a
TransformerConfig: it picks the class for ``config.arch``. Every such network maps RGB
(N, 3, H, W) in [0, 1] to the same shape in [0, 1] and keeps its config in ``.config``.
A network of ``config.num_styles`` > 1 holds several styles and mixes them
(fst.models.conditional); ``add_style(net)`` grows it by one.
"""

from __future__ import annotations

from torch import nn

from fst.models.conditional import add_style
from fst.models.fast import FastTransformerNet
from fst.models.transformer import TransformerConfig, TransformerNet

__all__ = ["NETWORKS", "TransformerConfig", "TransformerNet", "add_style", "build_transformer"]

NETWORKS: dict[str, type[nn.Module]] = {"johnson": TransformerNet, "fast": FastTransformerNet}


def build_transformer(config: TransformerConfig) -> nn.Module:
    """The stylisation network of ``config.arch``, freshly initialised."""
    return NETWORKS[config.arch](config)

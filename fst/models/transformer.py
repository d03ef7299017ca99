"""The image-transformation network of Johnson, Alahi & Fei-Fei (2016).

Layout (their notation): c9s1-32, d64, d128, 5 x R128, u64, u32, c9s1-3, with
instance normalisation (Ulyanov et al. 2016) instead of batch norm, reflection
padding, and nearest-neighbour upsampling followed by a convolution instead of
transposed convolutions (no checkerboard artefacts).

Input and output: RGB float tensors of shape (N, 3, H, W) with values in [0, 1].
Any H, W >= 8 works: the input is reflection-padded to a multiple of 4 and the
output is cropped back, so the output always has exactly the input's size. In eval mode
the input also gets the reflected border margin of fst.models.base.StyleNet. With
``num_styles`` > 1 every instance norm is conditional (fst.models.conditional): the network
holds that many styles and mixes them with the ``style`` weights of ``forward``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fst.models.base import StyleNet
from fst.models.conditional import StyleModule, StyleSequential, instance_norm

# Network families (fst.models.build_transformer) and the width each one defaults to.
DEFAULT_WIDTH = {"johnson": 32, "fast": 16}


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture hyper-parameters; stored in every checkpoint and model file.

    width: channels of the first layer (default 32 for "johnson", as in the paper, and 16
        for "fast"); later layers use 2x and 4x.
    num_res_blocks: residual blocks at the lowest resolution (5 in the paper).
    arch: "johnson" (TransformerNet, this module) or "fast" (FastTransformerNet,
        fst/models/fast.py: half internal resolution, depthwise-separable blocks).
    num_styles: styles the network holds (conditional instance norm when > 1).
    """

    width: int | None = None
    num_res_blocks: int = 5
    arch: str = "johnson"
    num_styles: int = 1

    def __post_init__(self) -> None:
        if self.arch not in DEFAULT_WIDTH:
            raise ValueError(f"unknown arch {self.arch!r} (choose from {', '.join(DEFAULT_WIDTH)})")
        if self.num_styles < 1:
            raise ValueError(f"num_styles must be at least 1, got {self.num_styles}")
        if self.width is None:
            object.__setattr__(self, "width", DEFAULT_WIDTH[self.arch])

    def to_dict(self) -> dict[str, int | str]:
        """The fields as stored in model files; num_styles only when above 1, so
        single-style files read as they always did."""
        fields = asdict(self)
        if self.num_styles == 1:
            del fields["num_styles"]
        return fields


class ConvLayer(StyleSequential):
    """Reflection pad + convolution (+ instance norm + ReLU unless ``last``)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, last: bool = False, num_styles: int = 1
    ):
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel // 2),
            nn.Conv2d(c_in, c_out, kernel, stride),
        ]
        if not last:
            layers += [instance_norm(c_out, num_styles), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualBlock(StyleModule):
    """Two 3x3 conv layers with a skip connection; shape-preserving (N, C, H, W)."""

    def __init__(self, channels: int, num_styles: int = 1):
        super().__init__()
        self.body = StyleSequential(
            ConvLayer(channels, channels, 3, num_styles=num_styles),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            instance_norm(channels, num_styles),
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.body(x, style)


class UpsampleConv(StyleSequential):
    """Nearest-neighbour x2 upsampling, then a ConvLayer: (N, C, H, W) -> (N, C', 2H, 2W)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, num_styles: int = 1):
        upsample = nn.Upsample(scale_factor=2, mode="nearest")
        super().__init__(upsample, ConvLayer(c_in, c_out, kernel, num_styles=num_styles))


def paper_layout(
    config: TransformerConfig, block: Callable[[int, int], nn.Module] = ResidualBlock, edge_kernel: int = 9
) -> StyleSequential:
    """c{k}s1-w, d2w, d4w, n x block(4w, S), u2w, uw, c{k}s1-3 with k = ``edge_kernel`` and
    w, n, S = config.width, num_res_blocks, num_styles: (N, 3, H, W) and style weights ->
    (N, 3, H, W) pre-sigmoid, H and W multiples of 4."""
    w, styles = config.width, config.num_styles
    return StyleSequential(
        ConvLayer(3, w, edge_kernel, num_styles=styles),
        ConvLayer(w, 2 * w, 3, stride=2, num_styles=styles),
        ConvLayer(2 * w, 4 * w, 3, stride=2, num_styles=styles),
        *[block(4 * w, styles) for _ in range(config.num_res_blocks)],
        UpsampleConv(4 * w, 2 * w, num_styles=styles),
        UpsampleConv(2 * w, w, num_styles=styles),
        ConvLayer(w, 3, edge_kernel, last=True),
    )


class TransformerNet(StyleNet):
    """Feed-forward stylisation network: (N, 3, H, W) in [0, 1] -> same shape in [0, 1];
    ``style``: (S,) or (N, S) mixing weights (fst.models.base.StyleNet)."""

    def __init__(self, config: TransformerConfig | None = None):
        super().__init__()
        self.config = config or TransformerConfig()
        self.layers = paper_layout(self.config)

    def stylize(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        pad_h, pad_w = (-height) % 4, (-width) % 4
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        out = torch.sigmoid(self.layers(padded, self.style_weights(style)))
        return out[..., :height, :width]

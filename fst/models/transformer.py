"""The image-transformation network of Johnson, Alahi & Fei-Fei (2016).

Layout (their notation): c9s1-32, d64, d128, 5 x R128, u64, u32, c9s1-3, with
instance normalisation (Ulyanov et al. 2016) instead of batch norm, reflection
padding, and nearest-neighbour upsampling followed by a convolution instead of
transposed convolutions (no checkerboard artefacts).

Input and output: RGB float tensors of shape (N, 3, H, W) with values in [0, 1].
Any H, W >= 8 works: the input is reflection-padded to a multiple of 4 and the
output is cropped back, so the output always has exactly the input's size. In eval mode
the input also gets the reflected border margin of fst.models.base.StyleNet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fst.models.base import StyleNet

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
    """

    width: int | None = None
    num_res_blocks: int = 5
    arch: str = "johnson"

    def __post_init__(self) -> None:
        if self.arch not in DEFAULT_WIDTH:
            raise ValueError(f"unknown arch {self.arch!r} (choose from {', '.join(DEFAULT_WIDTH)})")
        if self.width is None:
            object.__setattr__(self, "width", DEFAULT_WIDTH[self.arch])

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


class ConvLayer(nn.Sequential):
    """Reflection pad + convolution (+ instance norm + ReLU unless ``last``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, last: bool = False):
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel // 2),
            nn.Conv2d(c_in, c_out, kernel, stride),
        ]
        if not last:
            layers += [nn.InstanceNorm2d(c_out, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 conv layers with a skip connection; shape-preserving (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour x2 upsampling, then a ConvLayer: (N, C, H, W) -> (N, C', 2H, 2W)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(c_in, c_out, kernel))


def paper_layout(
    width: int, num_res_blocks: int, block: Callable[[int], nn.Module] = ResidualBlock, edge_kernel: int = 9
) -> nn.Sequential:
    """c{k}s1-w, d2w, d4w, n x block(4w), u2w, uw, c{k}s1-3 with k = ``edge_kernel``:
    (N, 3, H, W) -> (N, 3, H, W) pre-sigmoid, H and W multiples of 4."""
    w = width
    return nn.Sequential(
        ConvLayer(3, w, edge_kernel),
        ConvLayer(w, 2 * w, 3, stride=2),
        ConvLayer(2 * w, 4 * w, 3, stride=2),
        *[block(4 * w) for _ in range(num_res_blocks)],
        UpsampleConv(4 * w, 2 * w),
        UpsampleConv(2 * w, w),
        ConvLayer(w, 3, edge_kernel, last=True),
    )


class TransformerNet(StyleNet):
    """Feed-forward stylisation network: (N, 3, H, W) in [0, 1] -> same shape in [0, 1]."""

    def __init__(self, config: TransformerConfig | None = None):
        super().__init__()
        self.config = config or TransformerConfig()
        self.layers = paper_layout(self.config.width, self.config.num_res_blocks)

    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        pad_h, pad_w = (-height) % 4, (-width) % 4
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        out = torch.sigmoid(self.layers(padded))
        return out[..., :height, :width]

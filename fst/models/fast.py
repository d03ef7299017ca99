"""A real-time variant of the stylisation network for CPUs (``arch="fast"``).

Same contract as TransformerNet: RGB float (N, 3, H, W) in [0, 1] -> same shape in
[0, 1], any H, W >= 8, with the reflected border margin of fst.models.base.StyleNet in
eval mode. Four changes give it 37x fewer FLOPs per output pixel (8.4 k instead of 307.6 k):

- it stylizes at half the resolution: the input is average-pooled 2x2 on entry and the
  stylized result is upsampled bilinearly x2 at the end (4x fewer pixels everywhere);
- the residual blocks are depthwise-separable: a 3x3 depthwise convolution followed by
  a 1x1 pointwise one (~8x fewer multiply-adds than a dense 3x3 at 64+ channels);
- the default width is 16 (channels 16, 32, 64) instead of 32 (32, 64, 128);
- the first and last convolutions are 5x5 instead of 9x9 (at half resolution they still
  see 10x10 input pixels); 3-channel 9x9 convolutions run poorly on CPUs.

Layout: avgpool/2, c5s1-w, d2w, d4w, n x DSR4w, u2w, uw, c5s1-3, sigmoid, bilinear x2.
With ``num_styles`` > 1 the instance norms are conditional (fst.models.conditional).
Speed and FLOPs: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fst.models.base import StyleNet
from fst.models.conditional import StyleModule, StyleSequential, instance_norm
from fst.models.transformer import TransformerConfig, paper_layout

# The input is pooled 2x, then downsampled 4x by two stride-2 convolutions; the 3x3
# reflection pads need at least 2 pixels at the eighth resolution (32 / 8 = 4).
SIZE_MULTIPLE = 8
MIN_PADDED_SIZE = 32


class SeparableConv(nn.Sequential):
    """Reflection pad + 3x3 depthwise conv + 1x1 pointwise conv: (N, C, H, W) -> same shape."""

    def __init__(self, channels: int):
        super().__init__(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1),
        )


class SeparableResidualBlock(StyleModule):
    """Two depthwise-separable conv layers with instance norm and a skip connection."""

    def __init__(self, channels: int, num_styles: int = 1):
        super().__init__()
        self.body = StyleSequential(
            SeparableConv(channels),
            instance_norm(channels, num_styles),
            nn.ReLU(inplace=True),
            SeparableConv(channels),
            instance_norm(channels, num_styles),
        )

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.body(x, style)


class FastTransformerNet(StyleNet):
    """Half-resolution, depthwise-separable stylisation network: (N, 3, H, W) -> same;
    ``style``: (S,) or (N, S) mixing weights (fst.models.base.StyleNet)."""

    def __init__(self, config: TransformerConfig | None = None):
        super().__init__()
        self.config = config or TransformerConfig(arch="fast")
        self.layers = paper_layout(self.config, SeparableResidualBlock, edge_kernel=5)

    def stylize(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        # Edge-replicate to a multiple of 8 and at least 32 (reflection cannot pad 8 to 32);
        # sym_max keeps the padding symbolic in the exported ONNX graph.
        pad_h = torch.sym_max((-height) % SIZE_MULTIPLE, MIN_PADDED_SIZE - height)
        pad_w = torch.sym_max((-width) % SIZE_MULTIPLE, MIN_PADDED_SIZE - width)
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        small = torch.sigmoid(self.layers(F.avg_pool2d(padded, 2), self.style_weights(style)))
        out = F.interpolate(small, scale_factor=2.0, mode="bilinear", align_corners=False)
        return out[..., :height, :width]

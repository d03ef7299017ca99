"""What every stylisation network shares: the reflected border margin at inference.

Networks trained on small crops paint a band along the image border (up to 34/255 darker
at 1024 px for the shipped styles; benchmarks/RESULTS.md). In eval mode the forward pass
extends the input by a reflected margin of m = min(BORDER_MARGIN, H - 1, W - 1) pixels on
every side, stylizes that, and crops back, so the band falls outside the picture. The
margin is symbolic (torch.sym_min), so the exported ONNX graph contains it and any
runtime gives the pixels of ``fst stylize``. Training mode has no margin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fst.infer.metadata import BORDER_MARGIN


class StyleNet(nn.Module):
    """Base class: subclasses implement ``stylize``; ``forward`` adds the margin in eval mode.

    Both map RGB (N, 3, H, W) in [0, 1], H, W >= 8, to the same shape in [0, 1].
    """

    def stylize(self, x: torch.Tensor) -> torch.Tensor:
        """The network itself, without the margin: (N, 3, H, W) -> (N, 3, H, W)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.stylize(x)
        height, width = x.shape[-2], x.shape[-1]
        margin = torch.sym_min(BORDER_MARGIN, torch.sym_min(height - 1, width - 1))
        padded = F.pad(x, (margin, margin, margin, margin), mode="reflect")
        return self.stylize(padded)[..., margin : margin + height, margin : margin + width]

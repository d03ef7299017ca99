"""What every stylisation network shares: the reflected border margin at inference, and
the style weights of networks that hold several styles (fst.models.conditional).

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
from fst.models.conditional import style_norms


class StyleNet(nn.Module):
    """Base class: subclasses set ``config`` (a TransformerConfig) and implement
    ``stylize``; ``forward`` adds the margin in eval mode.

    Both map RGB x (N, 3, H, W) in [0, 1], H, W >= 8, to the same shape in [0, 1].
    ``style``: mixing weights over the network's S = config.num_styles styles, (S,) for the
    whole batch or (N, S) one row per image (fst.models.conditional); None is style 0. A
    single-style network ignores it.
    """

    def stylize(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """The network itself, without the margin: (N, 3, H, W) -> (N, 3, H, W)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.training:
            return self.stylize(x, style)
        height, width = x.shape[-2], x.shape[-1]
        margin = torch.sym_min(BORDER_MARGIN, torch.sym_min(height - 1, width - 1))
        padded = F.pad(x, (margin, margin, margin, margin), mode="reflect")
        return self.stylize(padded, style)[..., margin : margin + height, margin : margin + width]

    def style_weights(self, style: torch.Tensor | None) -> torch.Tensor | None:
        """The weights the layers mix with: None for a single-style network; else ``style``
        ((S,) or (N, S)), or one-hot style 0 when it is None. ValueError for another shape."""
        count = self.config.num_styles
        if count == 1:
            return None
        if style is None:
            first = torch.zeros(count, device=self.style_parameters()[0].device)
            first[0] = 1.0
            return first
        if style.dim() not in (1, 2) or style.shape[-1] != count:
            shape = tuple(style.shape)
            raise ValueError(f"style weights must have shape ({count},) or (N, {count}), got {shape}")
        return style

    def style_parameters(self) -> list[nn.Parameter]:
        """The γ and β of every instance norm: the only tensors that differ between styles,
        each (S, C) (or (C,) in a single-style network)."""
        return [p for _, norm in style_norms(self) for p in (norm.weight, norm.bias)]

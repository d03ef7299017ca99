"""Stability term (Gupta et al. 2017): the network should paint the same picture when the
photo moves by a few pixels and gains a little noise, as consecutive video frames do.

Synthetic motion needs no video: x' is x shifted by (dy, dx), |dy|, |dx| <= max_shift px,
plus Gaussian noise of std ``noise`` (in [0, 1] units); a stable network's f(x') is f(x)
shifted by the same amount. The term is the mean squared difference of the two, in [0, 1]
pixel units, over the overlap less ``border`` px on each side (where padding differs).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

MAX_SHIFT = 4  # px
NOISE = 0.02  # std, [0, 1] units (about 5/255)
BORDER = 16  # px left out on each side of the compared area


def stability_loss(
    stylize: Callable[[torch.Tensor], torch.Tensor],
    photos: torch.Tensor,
    output: torch.Tensor,
    max_shift: int = MAX_SHIFT,
    noise: float = NOISE,
    border: int = BORDER,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared difference between stylize(moved photos) and the moved ``output``.

    photos, output: (N, 3, H, W), output = stylize(photos), H, W > 2·max_shift. The photos
    are cropped to (H - 2·max_shift, W - 2·max_shift) at offset (max_shift + dy,
    max_shift + dx), the output likewise; ``border`` shrinks to a quarter of the crop's
    short side where it would leave less than half of it. Returns a scalar.
    """
    dy, dx = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=generator))
    height, width = photos.shape[-2:]
    border = min(border, (min(height, width) - 2 * max_shift) // 4)

    def moved(images: torch.Tensor) -> torch.Tensor:
        top, left = max_shift + dy, max_shift + dx
        return images[..., top : top + height - 2 * max_shift, left : left + width - 2 * max_shift]

    shaken = moved(photos)
    if noise > 0:
        shaken = shaken + noise * torch.randn(shaken.shape, generator=generator).to(shaken)
    repainted, expected = stylize(shaken.clamp(0, 1)), moved(output)
    inner = (..., slice(border, -border or None), slice(border, -border or None))
    return F.mse_loss(repainted[inner].float(), expected[inner].float())

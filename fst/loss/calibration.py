"""Style-weight calibration: the style term in units of a photo's own distance to the painting.

The style term's raw size differs between paintings (2.9 for The Starry Night to 7.3 for
Degas' Dance Foyer, summed over the default layers, for the same photos; benchmarks/RESULTS.md),
so one style_weight pulls harder towards some paintings than others. With
``calibrate_style`` the objective divides painting s's style term by

    D(s) = mean over the reference photos p of Σ_l w_l · style_l(φ_l(p), s),

the term an unstylized photo scores. A calibrated style term is 1 for a photo and 0 for
a perfect copy of the painting's statistics, like the style distance S of
fst.measure.quality, whatever the painting. The reference photos are the
REFERENCE_SIZE px centre crops of the photos that ship with fst (fst/assets/photos), so
D(s) depends only on the settings and the painting, and a model file's objective is
rebuilt exactly from what it stores.
"""

from __future__ import annotations

import torch

from fst import ASSETS
from fst.imageio import list_images, load_rgb

REFERENCE_PHOTOS = ASSETS / "photos"
REFERENCE_SIZE = 256


def reference_photos() -> torch.Tensor:
    """The reference photos as (P, 3, REFERENCE_SIZE, REFERENCE_SIZE) centre crops in [0, 1]."""
    from fst.train.data import resize_and_crop  # the training crop; it imports Lightning, only here

    photos = [resize_and_crop(load_rgb(path), REFERENCE_SIZE, None) for path in list_images(REFERENCE_PHOTOS)]
    return torch.stack(photos)

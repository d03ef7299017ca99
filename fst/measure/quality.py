"""Quality of a stylized image by two distances that no training weight enters.

For a photo c, the network's output y for it, and the painting s, with the original
VGG-16 (Caffe weights) features φ and Gram matrices G = F Fᵀ / (C·H·W):

    style distance   S = Σ_l ‖G_l(y) − G_l(s)‖² / Σ_l ‖G_l(c) − G_l(s)‖²   l in QUALITY_LAYERS
    content distance C = ‖φ(y) − φ(c)‖² / ‖φ(c)‖²                          at CONTENT_LAYER

The photo itself scores S = 1, C = 0; a perfect copy of the painting's statistics S = 0.
Photos are measured as QUALITY_SIZE px centre crops and paintings at QUALITY_SIZE px on
the long side, so recipes with different weights, layers or style sizes compare fairly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.transforms import functional as TF

from fst.imageio import load_rgb
from fst.loss.objective import image_to_tensor, resize_long_side
from fst.loss.terms import gram_matrix
from fst.loss.vgg import VGG16Features
from fst.train.data import resize_and_crop

QUALITY_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu2_2"
QUALITY_SIZE = 256


@torch.no_grad()
def distances(
    vgg: VGG16Features, output: torch.Tensor, photo: torch.Tensor, painting: torch.Tensor
) -> dict[str, float]:
    """{"S": style distance, "C": content distance} of ``output`` (1, 3, H, W) for
    ``photo`` (same shape) and ``painting`` (1, 3, H', W'), all RGB in [0, 1]."""
    out, ref, art = (vgg(image, QUALITY_LAYERS) for image in (output, photo, painting))

    def gram_gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
        return sum(float((gram_matrix(a[k]) - gram_matrix(b[k])).pow(2).sum()) for k in QUALITY_LAYERS)

    style_gap, photo_gap = gram_gap(out, art), gram_gap(ref, art)
    content = ref[CONTENT_LAYER]
    content_gap = float((out[CONTENT_LAYER] - content).pow(2).sum() / content.pow(2).sum().clamp_min(1e-12))
    return {"S": style_gap / max(photo_gap, 1e-30), "C": content_gap}


class QualityMeter:
    """S and C against one painting: the Caffe VGG-16 and the painting at QUALITY_SIZE px.

    painting: (1, 3, H, W) in [0, 1], any size. vgg: reused when it has Caffe weights.
    """

    def __init__(self, painting: torch.Tensor, vgg: VGG16Features | None = None):
        self.vgg = vgg if vgg is not None and vgg.flavour == "caffe" else VGG16Features("caffe")
        device = self.vgg.mean.device
        self.painting = image_to_tensor(resize_long_side(TF.to_pil_image(painting[0].cpu()), QUALITY_SIZE))
        self.painting = self.painting.to(device)

    @staticmethod
    def photo(path: str | Path) -> torch.Tensor:
        """The photo as measured: a QUALITY_SIZE px centre crop, (1, 3, S, S) in [0, 1]."""
        return resize_and_crop(load_rgb(path), QUALITY_SIZE, None).unsqueeze(0)

    def __call__(self, output: torch.Tensor, photo: torch.Tensor) -> dict[str, float]:
        """{"S", "C"} of ``output`` for ``photo``, both (1, 3, S, S) from :meth:`photo`."""
        device = self.vgg.mean.device
        return distances(self.vgg, output.to(device), photo.to(device), self.painting)

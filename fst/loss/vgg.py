"""Frozen VGG-16 feature extractor for the perceptual loss.

Callers always pass RGB in [0, 1]; the extractor applies the preprocessing that its
weights expect ("caffe": BGR, 0-255, minus the mean pixel; "torchvision": RGB
normalised by the ImageNet mean and std) and runs only as deep as the deepest
layer asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from safetensors.torch import load_file
from torch import nn

from fst.errors import FstError
from fst.loss.weights import CONV_NAMES, resolve_vgg_weights

# Every ReLU output, in network order; pooling follows each block's last conv.
RELU_NAMES = tuple("relu" + name[4:] for name in CONV_NAMES)
BLOCK_ENDS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3")  # max-pool after these
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def min_input_side(layers: Sequence[str]) -> int:
    """Smallest input height and width (pixels) that give every layer in ``layers``
    at least 1x1 features: 2 to the power of the max-pools before the deepest one."""
    deepest = max(RELU_NAMES.index(name) for name in layers)
    return 2 ** sum(name in BLOCK_ENDS for name in CONV_NAMES[:deepest])


def check_input_side(height: int, width: int, layers: Sequence[str], what: str) -> None:
    """Raise FstError if a ``what`` of height x width pixels is too small for ``layers``."""
    needed = min_input_side(layers)
    if min(height, width) < needed:
        names = ", ".join(dict.fromkeys(layers))  # each once, in order
        raise FstError(
            f"{what} is {width}x{height} pixels; VGG-16 layers {names} need at least {needed} on each side"
        )


class VGG16Features(nn.Module):
    """VGG-16 conv stack (13 convs) with frozen weights, always in eval mode."""

    def __init__(self, weights: str = "caffe"):
        super().__init__()
        found = resolve_vgg_weights(weights)
        state = load_file(str(found.path))
        self.flavour = found.flavour
        self.convs = nn.ModuleDict()
        for name in CONV_NAMES:
            weight = state[f"{name}.weight"]
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(state[f"{name}.bias"])
            self.convs[name] = conv
        self.pool = nn.MaxPool2d(2, 2)
        if self.flavour == "caffe":
            mean, scale, channels = torch.tensor(CAFFE_MEAN_BGR) / 255.0, torch.full((3,), 255.0), [2, 1, 0]
        else:
            mean, scale, channels = torch.tensor(IMAGENET_MEAN), 1 / torch.tensor(IMAGENET_STD), [0, 1, 2]
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.channels = channels
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG16Features:
        """Stay in eval mode whatever the parent module asks."""
        return super().train(False)

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB in [0, 1] -> the input the weights were trained on."""
        return (rgb[:, self.channels] - self.mean) * self.scale

    def forward(self, rgb: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Features at ``layers`` (names like "relu2_2"); (N, C_l, H_l, W_l) each.

        Stops after the deepest requested layer.
        """
        unknown = set(layers) - set(RELU_NAMES)
        if unknown:
            raise ValueError(f"unknown VGG-16 layers {sorted(unknown)}; choose from {RELU_NAMES}")
        deepest = max(RELU_NAMES.index(name) for name in layers)
        out = {}
        x = self.preprocess(rgb)
        for conv_name, relu_name in zip(CONV_NAMES[: deepest + 1], RELU_NAMES[: deepest + 1], strict=True):
            x = torch.relu(self.convs[conv_name](x))
            if relu_name in layers:
                out[relu_name] = x
            if conv_name in BLOCK_ENDS and relu_name != RELU_NAMES[deepest]:
                x = self.pool(x)
        return out

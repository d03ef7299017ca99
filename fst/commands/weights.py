"""``fst weights``: where the VGG-16 weights come from, verified, and their path."""

from __future__ import annotations

import argparse

HELP = "Find, verify and cache the VGG-16 weights of the perceptual loss; print their path."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        default="caffe",
        help="'caffe' (original VGG-16, default), 'torchvision' (IMAGENET1K_V1), or a weights file",
    )


def run(args: argparse.Namespace) -> int:
    from fst.loss.weights import resolve_vgg_weights

    found = resolve_vgg_weights(args.weights)
    print(f"flavour: {found.flavour}")
    print(f"source:  {found.source}")
    print("verified: " + ("sha256 and known values of the original VGG-16" if found.flavour == "caffe"
                          else "shapes of all 13 conv layers"))  # fmt: skip
    print(found.path)
    return 0

"""Warm start: a new training run that begins from a trained network's weights, or
extends a trained network with new styles."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from fst.errors import FstError
from fst.infer.metadata import ModelInfo
from fst.models import add_style


def trained_network(spec: str) -> tuple[nn.Module, ModelInfo]:
    """The network and description of ``spec``: a shipped style name, .safetensors or .ckpt."""
    from fst.infer.model_file import load_net
    from fst.infer.shipped import resolve_model

    return load_net(resolve_model(spec, runtime="torch"))


def copy_weights(spec: str, net: nn.Module) -> None:
    """Load the network of ``spec`` (a shipped style name, .safetensors or .ckpt) into
    ``net``, which must have the same architecture; FstError (one line) otherwise. A
    single-style network can start every style of a multi-style ``net`` of its size: each
    style begins with its γ/β (fst.models.add_style)."""
    source, _ = trained_network(spec)
    if source.config.num_styles == 1 and source.config == replace(net.config, num_styles=1):
        while source.config.num_styles < net.config.num_styles:
            source = add_style(source)
    if source.config != net.config:
        raise FstError(
            f"--model.init_from {spec}: its network is {describe_arch(source.config.to_dict())}, "
            f"this run trains {describe_arch(net.config.to_dict())}; set --model.arch, "
            "--model.width and --model.num_res_blocks to match it"
        )
    net.load_state_dict(source.state_dict())


def extended_network(spec: str, new_styles: int) -> tuple[nn.Module, tuple[tuple[str, bytes], ...]]:
    """The network of ``spec`` grown by ``new_styles`` styles (fst.models.add_style), with
    every tensor but the style parameters (γ/β) frozen; and the (name, PNG) of each style it
    held. FstError (one line) when the file does not store its style images."""
    net, info = trained_network(spec)
    names = info.style_names
    if len(info.style_images) != len(names):
        raise FstError(f"--model.extend {spec}: it stores no style images (a format-1 file)")
    for _ in range(new_styles):
        net = add_style(net)
    net = net.float().train()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    for parameter in net.style_parameters():
        parameter.requires_grad_(True)
    return net, tuple(zip(names, info.style_images, strict=True))


def describe_arch(arch: dict) -> str:
    """'johnson, width 32, 5 residual blocks' (and the styles of a multi-style network)."""
    text = f"{arch['arch']}, width {arch['width']}, {arch['num_res_blocks']} residual blocks"
    styles = arch.get("num_styles", 1)
    return text + (f", {styles} styles" if styles > 1 else "")

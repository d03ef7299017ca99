"""Warm start: a new training run that begins from a trained network's weights."""

from __future__ import annotations

from torch import nn

from fst.errors import FstError


def copy_weights(spec: str, net: nn.Module) -> None:
    """Load the network of ``spec`` (a shipped style name, .safetensors or .ckpt) into
    ``net``, which must have the same architecture; FstError (one line) otherwise."""
    from fst.infer.model_file import load_net
    from fst.infer.shipped import resolve_model

    source, _ = load_net(resolve_model(spec, runtime="torch"))
    if source.config != net.config:
        raise FstError(
            f"--model.init_from {spec}: its network is {describe_arch(source.config.to_dict())}, "
            f"this run trains {describe_arch(net.config.to_dict())}; set --model.arch, "
            "--model.width and --model.num_res_blocks to match it"
        )
    net.load_state_dict(source.state_dict())


def describe_arch(arch: dict) -> str:
    """'johnson, width 32, 5 residual blocks' (and the styles of a multi-style network)."""
    text = f"{arch['arch']}, width {arch['width']}, {arch['num_res_blocks']} residual blocks"
    styles = arch.get("num_styles", 1)
    return text + (f", {styles} styles" if styles > 1 else "")

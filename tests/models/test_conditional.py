"""Conditional instance norm: one network holds several styles and mixes them by their γ/β."""

from __future__ import annotations

import pytest
import torch

from fst.models import add_style, build_transformer
from fst.models.conditional import ConditionalInstanceNorm2d, style_norms
from fst.models.transformer import TransformerConfig
from tests.inference_models import one_torch_thread, tiny_multi_net  # noqa: F401 (autouse fixture)

ARCHS = ["johnson", "fast"]


def with_norm_rows(net: torch.nn.Module, rows) -> torch.nn.Module:
    """A single-style network with ``net``'s shared tensors and γ/β = rows(γ (S, C)) of each norm."""
    single = build_transformer(TransformerConfig(width=8, num_res_blocks=1, arch=net.config.arch))
    state = net.state_dict()
    for name, _ in style_norms(net):
        for key in (f"{name}.weight", f"{name}.bias"):
            state[key] = rows(state[key])
    single.load_state_dict(state)
    return single.eval()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("index", [0, 1])
def test_one_hot_weights_give_the_single_style_network_of_that_style(arch, index):
    net = tiny_multi_net(arch=arch)
    single = with_norm_rows(net, lambda rows: rows[index])
    x = torch.rand(2, 3, 20, 28)
    one_hot = torch.nn.functional.one_hot(torch.tensor(index), 2).float()
    with torch.no_grad():
        assert torch.allclose(net(x, one_hot), single(x), atol=1e-6)
        other = with_norm_rows(net, lambda rows: rows[1 - index])
        assert (net(x, one_hot) - other(x)).abs().max() > 0.05  # the styles differ


@pytest.mark.parametrize("arch", ARCHS)
def test_half_and_half_is_the_network_with_the_average_scale_and_shift(arch):
    net = tiny_multi_net(arch=arch)
    average = with_norm_rows(net, lambda rows: (rows[0] + rows[1]) / 2)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.allclose(net(x, torch.tensor([0.5, 0.5])), average(x), atol=1e-6)


def test_the_norm_mixes_its_rows_linearly():
    """By hand: γ = (1, 3) and (3, 1), β = (0, 2) and (2, 0); 0.5/0.5 -> γ = (2, 2), β = (1, 1)."""
    norm = ConditionalInstanceNorm2d(2, 2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 3.0], [3.0, 1.0]]))
        norm.bias.copy_(torch.tensor([[0.0, 2.0], [2.0, 0.0]]))
    x = torch.tensor([[-1.0, 1.0], [1.0, -1.0]]).expand(1, 2, 2, 2)  # normalised: ±1 (eps aside)
    out = norm(x, torch.tensor([0.5, 0.5]))
    expected = torch.tensor([[-1.0, 3.0], [3.0, -1.0]]).expand(1, 2, 2, 2)  # 2 * (±1) + 1
    assert torch.allclose(out, expected, atol=1e-4)


def test_one_row_of_weights_per_image_mixes_each_image_on_its_own():
    net = tiny_multi_net()
    x = torch.rand(2, 3, 16, 16)
    rows = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    with torch.no_grad():
        together = net(x, rows)
        apart = torch.cat([net(x[i : i + 1], rows[i]) for i in range(2)])
    assert torch.allclose(together, apart, atol=1e-6)


def test_no_style_means_the_first():
    net = tiny_multi_net(arch="fast")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x, torch.tensor([1.0, 0.0])))
        assert torch.equal(net.train()(x), net.stylize(x, torch.tensor([1.0, 0.0])))


@pytest.mark.parametrize("shape", [(3,), (2, 1), (1, 2, 2)])
def test_weights_of_another_shape_are_refused(shape):
    with pytest.raises(ValueError, match=r"style weights must have shape \(2,\) or \(N, 2\)"):
        tiny_multi_net()(torch.rand(1, 3, 16, 16), torch.ones(shape))


def test_a_single_style_network_ignores_the_weights():
    net = build_transformer(TransformerConfig(width=8, num_res_blocks=1)).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x, torch.tensor([0.2, 0.8])), net(x))


@pytest.mark.parametrize("arch", ARCHS)
def test_only_the_norms_scale_and_shift_are_per_style(arch):
    """style_parameters: every (S, C) γ and β; every other tensor has a single-style net's shape."""
    net = tiny_multi_net(arch=arch)
    single = build_transformer(TransformerConfig(width=8, num_res_blocks=1, arch=arch))
    style_ids = {id(p) for p in net.style_parameters()}
    shapes = {name: p.shape for name, p in single.named_parameters()}
    assert list(net.state_dict()) == list(single.state_dict())  # the same keys, in the same order
    for name, p in net.named_parameters():
        expected = (2, *shapes[name]) if id(p) in style_ids else shapes[name]
        assert p.shape == expected, name
    assert len(style_ids) == len(single.style_parameters()) == 2 * len(style_norms(single))


def test_single_style_files_keep_their_architecture_description():
    assert TransformerConfig(width=8).to_dict() == {"width": 8, "num_res_blocks": 5, "arch": "johnson"}
    assert TransformerConfig(width=8, num_styles=3).to_dict()["num_styles"] == 3
    with pytest.raises(ValueError, match="num_styles must be at least 1"):
        TransformerConfig(num_styles=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_add_style_copies_everything_and_starts_the_new_style_at_the_mean(arch):
    net = tiny_multi_net(arch=arch)
    grown = add_style(net)
    assert grown.config.num_styles == 3 and not grown.training
    before, after = net.state_dict(), grown.state_dict()
    style_keys = {f"{name}.{part}" for name, _ in style_norms(net) for part in ("weight", "bias")}
    assert list(before) == list(after)
    for key in before:
        if key in style_keys:
            assert torch.equal(after[key][:2], before[key]), key
            assert torch.allclose(after[key][2], before[key].mean(dim=0)), key
        else:
            assert torch.equal(after[key], before[key]), key
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(grown(x, torch.tensor([0.0, 1.0, 0.0])), net(x, torch.tensor([0.0, 1.0])))


def test_add_style_to_a_single_style_network_starts_from_its_style():
    net = with_norm_rows(tiny_multi_net(), lambda rows: rows[0])
    grown = add_style(net)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(grown(x, torch.tensor([0.0, 1.0])), grown(x, torch.tensor([1.0, 0.0])))
        assert torch.allclose(grown(x, torch.tensor([1.0, 0.0])), net(x), atol=1e-6)

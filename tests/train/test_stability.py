"""The stability term against cases worked out by hand."""

import pytest
import torch

from fst.loss.config import LossConfig
from fst.train.module import StyleTransferModule
from fst.train.stability import stability_loss


def photos() -> torch.Tensor:
    return torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("seed", range(6))
def test_a_network_that_moves_with_the_photo_scores_zero(seed):
    """The identity is perfectly stable: every shift lines up exactly (no noise)."""
    x = photos()
    assert (
        float(stability_loss(lambda m: m, x, x, noise=0.0, generator=torch.Generator().manual_seed(seed)))
        == 0.0
    )


def test_a_texture_fixed_to_the_pixel_grid_is_not_stable():
    """f(x) = x · checkerboard keeps its pattern in place while the photo moves: any odd
    shift lines a dark square up with a bright one."""
    board = (torch.arange(48).view(-1, 1) + torch.arange(40)).remainder(2).float() * 0.5 + 0.5

    x = photos()
    scores = [
        float(stability_loss(lambda m: m * board[: m.shape[-2], : m.shape[-1]], x, x * board, noise=0.0,
                             generator=torch.Generator().manual_seed(seed)))
        for seed in range(6)
    ]  # fmt: skip
    assert max(scores) > 1e-3


def test_independent_flicker_scores_twice_its_variance():
    """f adds fresh N(0, σ²) noise at every call: the difference of two calls has variance
    2σ², so the mean squared difference is 2σ² = 0.02 for σ = 0.1."""
    torch.manual_seed(1)
    x = torch.rand(4, 3, 96, 96)
    flicker = lambda m: m + 0.1 * torch.randn_like(m)  # noqa: E731
    score = float(stability_loss(flicker, x, flicker(x), noise=0.0, border=4))
    assert score == pytest.approx(0.02, rel=0.05)


def test_the_training_objective_adds_the_weighted_term(tmp_path):
    from tests.conftest import random_photo

    style = tmp_path / "style.png"
    random_photo(40, 36, seed=5).save(style)
    torch.manual_seed(0)
    module = StyleTransferModule(str(style), LossConfig(style_size=40), width=8, num_res_blocks=1,
                                 stability_weight=7.0)  # fmt: skip
    with torch.no_grad():
        terms = module.losses(torch.rand(2, 3, 64, 64))
    assert float(terms["stability"]) > 0
    base = terms["content"] + 3.0 * terms["style"] + terms["tv"]  # LossConfig's default weights
    assert float(terms["total"]) == pytest.approx(float(base + 7.0 * terms["stability"]), rel=1e-5)
    plain = StyleTransferModule(str(style), LossConfig(style_size=40), width=8, num_res_blocks=1)
    assert "stability" not in plain.losses(torch.rand(2, 3, 64, 64))

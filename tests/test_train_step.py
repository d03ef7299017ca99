"""The textbook reference step (benchmarks/naive_step.py) and the real step compute the
same objective and the same gradients; the training benchmark runs."""

import copy

import pytest
import torch

from benchmarks.naive_step import gram, naive_losses, naive_step
from fst.bench import reference_arguments, training_step
from fst.losses import gram_matrix
from fst.module import StyleTransferModule


@pytest.fixture(scope="module")
def module(tmp_path_factory) -> StyleTransferModule:
    from tests.conftest import random_photo

    path = tmp_path_factory.mktemp("style") / "style.png"
    random_photo(40, 36, seed=5).save(path)
    torch.manual_seed(0)
    return StyleTransferModule(
        str(path), style_size=40, width=8, num_res_blocks=1, style_layer_weights=[1, 2, 0.5, 1]
    )


def test_einsum_gram_matches_fst_gram():
    features = torch.rand(2, 5, 4, 3)
    assert torch.allclose(gram(features), gram_matrix(features), atol=1e-7)


def test_reference_and_real_step_agree_on_loss_and_gradients(module):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ours = module.losses(x)
    ours["total"].backward()
    ours_grads = [p.grad.clone() for p in module.net.parameters()]
    module.net.zero_grad()
    naive = naive_losses(module.net, x=x, **reference_arguments(module))
    naive["total"].backward()
    for name in ("content", "style", "tv", "total"):
        assert float(naive[name].detach()) == pytest.approx(float(ours[name].detach()), rel=1e-5), name
    for ours_grad, p in zip(ours_grads, module.net.parameters(), strict=True):
        assert torch.allclose(p.grad, ours_grad, rtol=1e-4, atol=1e-7)
    module.net.zero_grad()


def test_two_steps_each_follow_the_same_path(module):
    # Adam's first update is ~lr * sign(grad), so weights can differ by 2 * lr where a
    # gradient is ~0; the losses along the path are the robust comparison.
    x = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(2))
    naive_net = copy.deepcopy(module.net)
    real = training_step(module, x)
    optimizer = torch.optim.Adam(naive_net.parameters(), lr=1e-3)
    for tolerance in (1e-5, 1e-3):
        naive_loss = naive_step(naive_net, x=x, optimizer=optimizer, **reference_arguments(module))
        assert float(real()) == pytest.approx(naive_loss, rel=tolerance)


def test_channels_last_option_computes_the_same_objective(module):
    module.net.zero_grad()  # earlier tests leave gradients behind
    fast = StyleTransferModule(**{**module.hparams, "channels_last": True})
    fast.net.load_state_dict(module.net.state_dict())
    assert fast.vgg.convs["conv1_1"].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    expected, got = module.losses(x), fast.losses(x)
    for name in ("content", "style", "tv", "total"):
        assert float(got[name].detach()) == pytest.approx(float(expected[name].detach()), rel=1e-5), name
    got["total"].backward()
    expected["total"].backward()
    for a, b in zip(fast.net.parameters(), module.net.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6)
    module.net.zero_grad()

"""The textbook reference step (benchmarks/naive_step.py) and the real step compute the
same objective and the same gradients; the training benchmark runs."""

import copy

import pytest
import torch

from benchmarks.naive_step import gram, naive_losses, naive_step
from fst.loss.config import LossConfig
from fst.loss.terms import gram_matrix
from fst.measure.bench import reference_arguments, training_step
from fst.train.module import StyleTransferModule

# Gradients are sums over thousands of float32 terms (every position of every VGG layer
# the chain rule passes through); two correct implementations that sum in another order
# (einsum vs bmm, NCHW vs NHWC, AVX2 vs AVX-512 kernels) differ by rounding, and
# rounding errors scale with the magnitudes summed, not with the result. So entries are
# compared relative to the norm of the whole gradient: measured here, the two steps
# differ by 3e-8 of it; scaling one layer's style weight by 1.001 moves some entry by
# 4e-5 of it. A tolerance relative to each tensor's own norm would fail by chance on the
# conv biases in front of instance norm, whose exact gradient is 0 (the norm removes a
# per-channel constant): their values are rounding noise alone.
GRADIENT_TOLERANCE = 2e-6


def assert_same_gradients(got: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    scale = torch.cat([g.flatten() for g in expected]).norm()
    for index, (a, b) in enumerate(zip(got, expected, strict=True)):
        difference = float((a - b).abs().max())
        assert difference <= GRADIENT_TOLERANCE * scale, (index, tuple(b.shape), difference, float(scale))


@pytest.fixture(scope="module")
def module(tmp_path_factory) -> StyleTransferModule:
    from tests.conftest import random_photo

    path = tmp_path_factory.mktemp("style") / "style.png"
    random_photo(40, 36, seed=5).save(path)
    torch.manual_seed(0)
    loss = LossConfig(style_size=40, style_layer_weights=[1, 2, 0.5, 1])
    return StyleTransferModule(str(path), loss, width=8, num_res_blocks=1)


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
    assert_same_gradients([p.grad for p in module.net.parameters()], ours_grads)
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
    assert fast.loss.vgg.convs["conv1_1"].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    expected, got = module.losses(x), fast.losses(x)
    for name in ("content", "style", "tv", "total"):
        assert float(got[name].detach()) == pytest.approx(float(expected[name].detach()), rel=1e-5), name
    got["total"].backward()
    expected["total"].backward()
    assert_same_gradients([p.grad for p in fast.net.parameters()], [p.grad for p in module.net.parameters()])
    module.net.zero_grad()

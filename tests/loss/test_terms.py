"""The loss maths against values computed by hand."""

import pytest
import torch

from fst.loss.terms import content_loss, gram_matrix, gram_style_loss, relative_mse, total_variation


def test_gram_matrix_by_hand():
    # One sample, C=2 channels, H=1, W=2: F = [[1, 2], [3, 4]].
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    # F Fᵀ = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]], divided by C·H·W = 4.
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_is_size_independent():
    tile = torch.rand(1, 3, 4, 4)
    assert torch.allclose(gram_matrix(tile), gram_matrix(tile.repeat(1, 1, 2, 3)), atol=1e-6)


def test_relative_mse_by_hand():
    value = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([1.0, 1.0, 1.0])
    # mean((0, 1, 2)²) = 5/3; mean(target²) = 1.
    assert relative_mse(value, target).item() == pytest.approx(5 / 3)
    # Scaling both by 10 leaves the relative error unchanged.
    assert relative_mse(10 * value, 10 * target).item() == pytest.approx(5 / 3)


def test_content_loss_zero_and_one():
    target = torch.rand(2, 4, 3, 3) + 0.1
    assert content_loss(target, target).item() == 0.0
    # Predicting all zeros is "as far as zero is": exactly 1.
    assert content_loss(torch.zeros_like(target), target).item() == pytest.approx(1.0)


def test_gram_style_loss_by_hand():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.tensor([[[1.0, 3.0], [3.0, 6.0]]])  # broadcast over the batch
    gram = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    expected = ((gram - target[0]) ** 2).mean() / (target**2).mean()
    assert gram_style_loss(features, target).item() == pytest.approx(expected.item())
    assert gram_style_loss(features.repeat(3, 1, 1, 1), target).item() == pytest.approx(expected.item())


def test_total_variation_by_hand():
    image = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    # Vertical differences: |0.5-0|, |0.5-1| -> mean 0.5; horizontal: |1-0|, |0.5-0.5| -> mean 0.5.
    assert total_variation(image).item() == pytest.approx(1.0)
    assert total_variation(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0


def test_losses_have_gradients():
    y = torch.rand(1, 3, 6, 6, requires_grad=True)
    (total_variation(y) + gram_style_loss(y, torch.rand(1, 3, 3))).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0

"""PerceptualLoss, the one objective of training, L-BFGS and evaluation, against the maths
written out by hand: the weighted sum, several paintings in one batch, its fingerprint."""

import pytest
import torch

from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss, image_to_tensor, load_style_image, png_to_tensor, style_png
from fst.loss.terms import content_loss, total_variation
from tests.conftest import random_photo

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


def photo_tensor(width: int, height: int, seed: int) -> torch.Tensor:
    return image_to_tensor(random_photo(width, height, seed))


@pytest.fixture(scope="module")
def styles() -> list[torch.Tensor]:
    """Two paintings of different sizes, (1, 3, H, W) in [0, 1]."""
    return [photo_tensor(24, 20, seed=11), photo_tensor(16, 18, seed=12)]


@pytest.fixture(scope="module")
def objective(styles) -> PerceptualLoss:
    config = LossConfig(
        content_weight=2.0, style_weight=5.0, tv_weight=0.5, style_layer_weights=[1, 2, 0.5, 1]
    )
    return PerceptualLoss(config, styles, ["first", "second"])


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """(output, content): three 16x16 images each."""
    gen = torch.Generator().manual_seed(4)
    return torch.rand(3, 3, 16, 16, generator=gen), torch.rand(3, 3, 16, 16, generator=gen)


def gram(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) / (C·H·W), written out again."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def by_hand_style(objective: PerceptualLoss, image: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """Gram style loss of one image (1, 3, H, W) against one painting, per layer, unweighted:
    mean((G(y) - G(s))²) / mean(G(s)²)."""
    with torch.no_grad():
        ours, theirs = objective.vgg(image, list(LAYERS)), objective.vgg(style, list(LAYERS))
    out = {}
    for layer in LAYERS:
        target = gram(theirs[layer])
        out[layer] = float(((gram(ours[layer]) - target) ** 2).mean() / (target**2).mean())
    return out


def test_total_is_the_weighted_sum_of_the_terms_and_each_term_is_its_formula(objective, styles, batch):
    output, content = batch
    with torch.no_grad():
        terms = objective(output, content)
        features = objective.vgg(output, ["relu2_2"])["relu2_2"]
        target = objective.vgg(content, ["relu2_2"])["relu2_2"]
    assert float(terms["content"]) == pytest.approx(float(content_loss(features, target)), rel=1e-6)
    assert float(terms["tv"]) == pytest.approx(float(total_variation(output)), rel=1e-6)
    # Style: the images' mean of Σ_l w_l · style_l, with w = (1, 2, 0.5, 1), against painting 0.
    per_image = [by_hand_style(objective, output[i : i + 1], styles[0]) for i in range(3)]
    weights = dict(zip(LAYERS, (1, 2, 0.5, 1), strict=True))
    for layer in LAYERS:
        expected = sum(p[layer] for p in per_image) / 3
        assert float(terms[f"style_{layer}"]) == pytest.approx(expected, rel=1e-4), layer
    expected_style = sum(sum(weights[k] * p[k] for k in LAYERS) for p in per_image) / 3
    assert float(terms["style"]) == pytest.approx(expected_style, rel=1e-4)
    # total = 2·content + 5·style + 0.5·tv, the weights of the config.
    expected_total = 2.0 * terms["content"] + 5.0 * terms["style"] + 0.5 * terms["tv"]
    assert float(terms["total"]) == pytest.approx(float(expected_total), rel=1e-6)
    assert "style.gram" not in terms  # per-member terms only for a fusion


def test_content_term_is_zero_when_the_output_is_the_content(objective, batch):
    _, content = batch
    with torch.no_grad():
        terms = objective(content, content)
    assert float(terms["content"]) == 0.0
    assert float(terms["total"]) == pytest.approx(float(5.0 * terms["style"] + 0.5 * terms["tv"]), rel=1e-6)


def test_a_batch_mixing_paintings_is_the_share_weighted_sum_of_its_parts(objective, styles, batch):
    """Rows {0} against painting 0 and rows {1, 2} against painting 1: the style terms are
    1/3 and 2/3 of the two parts computed separately (style and TV are means over images);
    the content term does not depend on the paintings."""
    output, content = batch
    with torch.no_grad():
        mixed = objective(output, content, torch.tensor([0, 1, 1]))
        first = objective(output[:1], content[:1], torch.tensor([0]))
        rest = objective(output[1:], content[1:], torch.tensor([1, 1]))
        whole = objective(output, content)
    for name in ["style", "tv", *(f"style_{layer}" for layer in LAYERS)]:
        expected = (float(first[name]) + 2 * float(rest[name])) / 3
        assert float(mixed[name]) == pytest.approx(expected, rel=1e-5), name
    assert float(mixed["content"]) == float(whole["content"])
    expected_total = 2.0 * mixed["content"] + 5.0 * mixed["style"] + 0.5 * mixed["tv"]
    assert float(mixed["total"]) == pytest.approx(float(expected_total), rel=1e-6)
    # By hand, image by image against its own painting.
    own = [by_hand_style(objective, output[i : i + 1], styles[k]) for i, k in enumerate([0, 1, 1])]
    for layer in LAYERS:
        assert float(mixed[f"style_{layer}"]) == pytest.approx(sum(p[layer] for p in own) / 3, rel=1e-4)
    # And it is not what painting 0 alone gives.
    assert abs(float(mixed["style"]) - float(whole["style"])) > 0.01 * float(whole["style"])


def test_mixed_batches_pass_gradients_to_every_image(objective, batch):
    output, content = batch
    output = output.clone().requires_grad_(True)
    objective(output, content, torch.tensor([1, 0, 1]))["total"].backward()
    assert all(float(output.grad[i].abs().sum()) > 0 for i in range(3))


def test_no_index_is_painting_zero_for_every_image(objective, batch):
    output, content = batch
    with torch.no_grad():
        default = objective(output, content)
        zeros = objective(output, content, torch.zeros(3, dtype=torch.long))
    assert {k: float(v) for k, v in default.items()} == {k: float(v) for k, v in zeros.items()}


@pytest.mark.parametrize(
    "index",
    [torch.tensor([0, 2, 1]), torch.tensor([0, -1, 1]), torch.tensor([0, 1]), torch.tensor([[0, 1, 1]])],
    ids=["beyond the last painting", "negative", "too short", "not one-dimensional"],
)
def test_bad_style_index_is_a_value_error(objective, batch, index):
    output, content = batch
    with pytest.raises(ValueError, match=r"^style must be \(3,\) indices below 2, got shape \("):
        objective(output, content, index)


def test_fingerprint_follows_settings_and_style_pixels_only(tmp_path, styles):
    config = LossConfig(style_size=24)
    base = PerceptualLoss(config, styles[:1], ["a"]).fingerprint()
    # The same values, built again, under another name: the same objective.
    assert (
        PerceptualLoss(LossConfig.from_dict(config.to_dict()), [styles[0].clone()], ["b"]).fingerprint()
        == base
    )
    # One weight changes it; so does one channel of one pixel by 1/255.
    assert PerceptualLoss(LossConfig(style_size=24, tv_weight=1.5), styles[:1]).fingerprint() != base
    touched = styles[0].clone()
    touched[0, 1, 3, 5] += 1 / 255
    assert PerceptualLoss(config, [touched]).fingerprint() != base
    # A second painting is another objective.
    assert PerceptualLoss(config, styles).fingerprint() != base


def test_files_and_stored_pngs_give_the_same_objective(tmp_path):
    """What training stores (style_png at style_size) rebuilds the very same targets."""
    path = tmp_path / "painting.jpg"
    random_photo(60, 45, seed=3).save(path, quality=90)
    config = LossConfig(style_size=32)
    from_file = PerceptualLoss.from_files(config, [path])
    stored = style_png(path, 32)
    pixels = png_to_tensor(stored, "model.safetensors")
    assert pixels.shape == (1, 3, 24, 32) and torch.equal(pixels, load_style_image(path, 32))
    from_model = PerceptualLoss.from_stored(config.to_dict(), [stored], ["painting"], "model.safetensors")
    assert from_model.fingerprint() == from_file.fingerprint()
    assert from_file.names == ["painting"]

"""Style-weight calibration: each painting's style term divided by what the reference
photos score, checked against the Gram formula written out by hand."""

import pytest
import torch

from fst.loss.calibration import REFERENCE_SIZE, reference_photos
from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss
from tests.loss.test_objective import LAYERS, by_hand_style, photo_tensor


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return reference_photos()


@pytest.fixture(scope="module")
def paintings() -> list[torch.Tensor]:
    """Two paintings whose Gram matrices differ in scale: noise, and dimmer noise."""
    return [photo_tensor(40, 32, seed=21), 0.4 * photo_tensor(32, 36, seed=22)]


@pytest.fixture(scope="module")
def calibrated(paintings) -> PerceptualLoss:
    config = LossConfig(style_weight=5.0, style_layer_weights=[1, 2, 0.5, 1], calibrate_style=True)
    return PerceptualLoss(config, paintings, ["first", "second"])


def test_reference_photos_are_the_shipped_photos_as_centre_crops(photos):
    assert photos.shape[1:] == (3, REFERENCE_SIZE, REFERENCE_SIZE) and len(photos) >= 5
    assert float(photos.min()) >= 0.0 and float(photos.max()) <= 1.0


def test_style_scale_is_one_over_the_photos_mean_gram_distance(calibrated, paintings, photos):
    """k[s] = 1 / mean_p Σ_l w_l · mean((G(p) - G(s))²) / mean(G(s)²), by hand."""
    weights = dict(zip(LAYERS, (1, 2, 0.5, 1), strict=True))
    per_photo = [by_hand_style(calibrated, photos[i : i + 1], paintings[1]) for i in range(len(photos))]
    distance = sum(sum(weights[k] * p[k] for k in LAYERS) for p in per_photo) / len(photos)
    assert float(calibrated.style_scale[1]) == pytest.approx(1 / distance, rel=1e-4)
    assert abs(float(calibrated.style_scale[0] / calibrated.style_scale[1]) - 1) > 0.02  # per painting


def test_a_photo_scores_one_and_the_total_uses_the_calibrated_term(calibrated, photos):
    """The reference photos, left as they are, score a calibrated style term of exactly 1
    against every painting; the total weighs that term, not the raw one."""
    uncalibrated = PerceptualLoss(
        LossConfig(style_weight=5.0, style_layer_weights=[1, 2, 0.5, 1]), calibrated.styles
    )
    assert uncalibrated.style_scale.tolist() == [1.0, 1.0]
    with torch.no_grad():
        for index in range(2):
            style = torch.full((len(photos),), index)
            terms = calibrated(photos, photos, style)
            raw = uncalibrated(photos, photos, style)
            assert float(terms["style"]) == pytest.approx(1.0, rel=1e-4)
            assert float(terms["style"]) == pytest.approx(
                float(raw["style"] * calibrated.style_scale[index]), rel=1e-5
            )
            assert float(terms["total"]) == pytest.approx(
                5.0 * float(terms["style"]) + float(terms["tv"]), rel=1e-5
            )


def test_calibrate_style_must_be_a_boolean():
    from fst.errors import FstError

    with pytest.raises(FstError, match="^calibrate_style must be true or false, got 'yes'$"):
        LossConfig(calibrate_style="yes")

"""fst.measure.flicker: the warping error (Lai et al. 2018) on synthetic frame sequences."""

from __future__ import annotations

import numpy as np
import pytest

from fst.measure.flicker import FlickerMeter, FlickerReport, warping_error
from tests.moving_frames import HEIGHT, STEP, WIDTH, panning, texture

FRAMES = 6


def pan(seed: int) -> np.ndarray:
    """A FRAMES-frame pan over a random texture, (FRAMES, HEIGHT, WIDTH, 3) uint8."""
    return panning(texture(HEIGHT, WIDTH + STEP * FRAMES, seed), FRAMES)


def with_flicker(frames: np.ndarray, amount: float, seed: int = 0) -> np.ndarray:
    """``frames`` plus fresh Gaussian noise of std ``amount`` (0-255) in every frame."""
    rng = np.random.default_rng(seed)
    noisy = frames.astype(np.float32) + rng.normal(0, amount, frames.shape)
    return np.clip(noisy.round(), 0, 255).astype(np.uint8)


def test_identical_frames_have_no_warping_error():
    still = np.repeat(texture(HEIGHT, WIDTH, seed=3)[None], FRAMES, axis=0)
    output = np.repeat(texture(HEIGHT, WIDTH, seed=4)[None], FRAMES, axis=0)
    report = warping_error(still, output)
    assert report == FlickerReport(0.0, 0.0, FRAMES - 1)


def test_a_consistent_output_of_a_pan_scores_near_zero_and_flicker_raises_it():
    source = pan(seed=1)
    painted = pan(seed=2)  # a "stylization" that moves exactly with the content
    report = warping_error(source, painted)
    assert report.pairs == FRAMES - 1 and report.cuts == 0
    assert report.input_error < 0.005 and report.output_error < 0.005
    errors = [warping_error(source, with_flicker(painted, amount)).output_error for amount in (2, 8, 24)]
    assert report.output_error < errors[0] < errors[1] < errors[2]
    assert errors[2] == pytest.approx(24 / 255 * 2 / np.sqrt(np.pi), rel=0.2)  # E|N(0, 2σ²)| = 2σ/√π
    assert warping_error(source, with_flicker(painted, 8)).input_error == report.input_error


def test_scene_cuts_are_left_out_and_reported():
    first, second = pan(seed=1)[:3], pan(seed=5)[:3]
    spliced = np.concatenate([first, second])
    report = warping_error(spliced, spliced)
    assert report.cuts == 1 and report.pairs == 4
    assert report.output_error == report.input_error < 0.005
    assert "1 scene cut(s) left out" in report.line()


def test_meter_streams_and_rejects_mismatched_frames():
    meter = FlickerMeter()
    assert meter.report().pairs == 0 and "no frame pair" in meter.report().line()
    frames = pan(seed=1)
    for frame in frames:
        meter.add(frame, frame)
    assert meter.report() == warping_error(frames, frames)
    assert "output 0.00" in meter.report().line()
    with pytest.raises(ValueError, match="two"):
        meter.add(frames[0], frames[0][:10])

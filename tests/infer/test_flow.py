"""fst.infer.flow: DIS flow, backward warping, the forward-backward check and scene cuts."""

from __future__ import annotations

import numpy as np

from fst.infer.flow import MIN_SIDE, FlowEstimator, grey, match, positions, reliable, shrink, warp
from tests.moving_frames import HEIGHT, STEP, WIDTH, known_flow, panning, texture

INNER = (slice(8, -8), slice(8, -8))  # away from the borders, where flow is extrapolated


def pan_pair() -> tuple[np.ndarray, np.ndarray]:
    """Two grey frames of a pan: the content moves STEP px left."""
    prev, cur = panning(texture(HEIGHT, WIDTH + 2 * STEP, seed=1), 2)
    return grey(prev), grey(cur)


def test_dis_finds_a_known_shift_and_warping_undoes_it():
    prev, cur = pan_pair()
    flow = FlowEstimator("medium")(cur, prev)  # cur -> prev
    assert flow.shape == (HEIGHT, WIDTH, 2) and flow.dtype == np.float32
    assert np.abs(flow[INNER] - known_flow()[INNER]).mean() < 0.1
    moved = warp(prev, known_flow())
    assert np.array_equal(moved[:, : WIDTH - STEP], cur[:, : WIDTH - STEP])  # integer shift: exact


def test_forward_backward_check_marks_new_pixels_and_keeps_the_rest():
    backward = known_flow()
    forward = -known_flow()
    ok = reliable(backward, forward)
    assert ok[:, : WIDTH - STEP - 1].all()  # every pixel still in view matches
    assert not ok[:, WIDTH - STEP + 1 :].any()  # the columns that entered on the right do not
    inconsistent = forward.copy()
    inconsistent[20:40, 20:40] = 0.0  # where the two flows disagree (an occlusion), no trust
    assert not reliable(backward, inconsistent)[25:35, 22:38].any()


def test_match_of_a_pan_and_of_a_scene_cut():
    prev, cur = pan_pair()
    found = match(prev, cur, FlowEstimator("medium"))
    assert found.matched[INNER].mean() > 0.95 and not found.is_cut
    other = grey(texture(HEIGHT, WIDTH, seed=7))
    assert match(prev, other, FlowEstimator("medium")).is_cut
    still = match(prev, prev, FlowEstimator("medium"))
    assert still.matched.all() and np.abs(still.flow).max() < 0.05


def test_flow_at_reduced_resolution_is_scaled_back():
    prev, cur = pan_pair()
    small = shrink(prev, WIDTH // 2)
    assert small.shape == (HEIGHT // 2, WIDTH // 2)
    assert shrink(prev, None) is prev and shrink(prev, 1000) is prev
    half = FlowEstimator("medium")(shrink(cur, WIDTH // 2), small)
    where = positions(half, (WIDTH, HEIGHT))
    assert where.shape == (HEIGHT, WIDTH, 2)
    shift = where - np.stack(np.meshgrid(np.arange(WIDTH), np.arange(HEIGHT)), axis=-1)
    assert np.abs(shift[INNER][..., 0].mean() - STEP) < 0.2  # 1 px at half size is 2 px here
    assert np.abs(shift[INNER][..., 1]).mean() < 0.2
    moved = warp(prev, half)  # the half-size flow moves the full-size frame
    assert np.abs(moved[INNER].astype(int) - cur[INNER]).mean() < 3


def test_frames_too_small_for_flow_match_nowhere():
    tiny = grey(texture(MIN_SIDE - 1, 40, seed=1))
    found = match(tiny, tiny, FlowEstimator("medium"))
    assert found.is_cut and not found.reliable.any() and found.flow.shape == (MIN_SIDE - 1, 40, 2)

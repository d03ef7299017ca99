"""Tiled inference matches untiled inference (fst.infer.tiling), and its pieces by hand."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from fst.infer import tiling
from fst.infer.metadata import BORDER_MARGIN
from fst.infer.norm_stats import extrapolate
from fst.infer.runners import open_runner
from fst.infer.stylize import StylizeOptions, stylize_frames
from tests.conftest import random_photo
from tests.inference_models import one_torch_thread, save_tiny_model  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    model = save_tiny_model(tmp_path_factory.mktemp("tiling") / "tiny.safetensors")
    return open_runner(model, "torch", "cpu")


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """(3, H, W) float32 in [0, 1]."""
    return np.asarray(random_photo(width, height, seed)).astype(np.float32).transpose(2, 0, 1) / 255


def tile_borders(spans: list[tuple[int, int]]) -> set[int]:
    return {edge for span in spans for edge in span} - {0, spans[-1][1]}


def test_tile_spans_by_hand():
    # count = ceil((100 - 10) / (40 - 10)) = 3; starts 0, 30 -> 24, 60 -> 56 on the 8-pixel grid
    assert tiling.tile_spans(100, 40, 10) == [(0, 40), (24, 64), (56, 100)]
    assert tiling.tile_spans(30, 40, 10) == [(0, 30)]
    assert tiling.tile_spans(41, 40, 16) == [(0, 41)]  # both starts snap to 0: one tile


def test_edge_ramp_by_hand():
    e = tiling.EDGE_WEIGHT
    assert np.allclose(tiling.edge_ramp(8), [e, e, 0.125, 0.375, 0.625, 0.875, 1, 1])
    both = tiling.edge_ramp(8) + tiling.edge_ramp(8)[::-1]
    assert np.allclose(both[2:6], 1.0) and np.allclose(both[[0, 1, 6, 7]], 1 + e)


def test_blending_weights_cover_every_pixel():
    plan = tiling.TilePlan(100, 90, 40, 16)
    total = np.zeros((100, 90))
    for (r0, r1, c0, c1), weight in zip(plan.boxes, plan.weights, strict=True):
        total[r0:r1, c0:c1] += weight
    # exactly 1 wherever ramps meet; a few EDGE_WEIGHTs more where tile margins overlap
    assert total.min() >= 1.0 - 1e-6 and total.max() <= 1 + 4 * tiling.EDGE_WEIGHT


def test_tiled_matches_untiled(runner):
    """Forced tiles on an image that also runs whole: whole-image statistics + blending."""
    image = photo(200, 136, seed=1)
    untiled = runner(image[None])[0]
    tiled = tiling.run_tiled(runner, image, tile=64)
    diff = np.abs(tiled - untiled) * 255
    assert diff.mean() < 2.0  # measured ~0.5
    rows, cols = tiling.tile_spans(136, 64, 32), tiling.tile_spans(200, 64, 32)
    near_rows = [r for r in range(136) if any(abs(r - b) <= 8 for b in tile_borders(rows))]
    near_cols = [c for c in range(200) if any(abs(c - b) <= 8 for b in tile_borders(cols))]
    assert diff[:, near_rows].max() < 32 and diff[:, :, near_cols].max() < 32  # measured ~8-14
    assert diff.max() < 32


def test_tiles_with_their_own_statistics_do_not_match(runner):
    """What whole-image statistics fix: the same tiles, each normalised on its own."""
    image = photo(200, 136, seed=1)
    untiled = runner(image[None])[0]
    with mock.patch.object(tiling, "whole_image_statistics", lambda *args: None):
        naive = tiling.run_tiled(runner, image, tile=64)
    assert np.abs(naive - untiled).mean() * 255 > 5  # measured ~12 (~14 before the margin moved into the net)


def test_cli_options_tile_the_same_way(runner):
    frames = (photo(150, 110, seed=2).transpose(1, 2, 0)[None] * 255).round().astype(np.uint8)
    whole = stylize_frames(runner, frames, StylizeOptions(tile=0)).astype(np.float32)
    tiled = stylize_frames(runner, frames, StylizeOptions(tile=64, batch_size=3)).astype(np.float32)
    assert tiled.shape == frames.shape
    assert np.abs(tiled - whole).mean() < 2.0


def test_automatic_tiling_above_the_memory_budget(runner, monkeypatch):
    """Budget for a 64 px tile and its border margin (width 8): a 128x96 image is tiled,
    statistics extrapolated."""
    padded = 64 + 2 * BORDER_MARGIN
    monkeypatch.setattr(tiling, "MEMORY_BUDGET_BYTES", padded * padded * tiling.BYTES_PER_PIXEL_PER_WIDTH * 8)
    assert tiling.budget_side(runner) == 64
    shapes = []
    real_call = type(runner).__call__
    monkeypatch.setattr(
        type(runner),
        "__call__",
        lambda self, b, s=None, style=None: shapes.append(b.shape) or real_call(self, b, s, style),
    )
    frames = (photo(128, 96, seed=3).transpose(1, 2, 0)[None] * 255).round().astype(np.uint8)
    out = stylize_frames(runner, frames)
    assert out.shape == frames.shape
    assert shapes and max(max(s[2:]) for s in shapes) <= 64 + tiling.STRIDE


def test_extrapolate_by_hand():
    """Mean linear, variance log-linear in log(scale): 1 -> 2 from scale 1/4 to 1/2 gives 3;
    variance 1 -> 2 gives 4 at scale 1."""
    one = np.ones((1, 2, 1, 1), np.float32)
    ((mean, var),) = extrapolate([(one, one)], 0.25, [(2 * one, 2 * one)], 0.5)
    assert np.allclose(mean, 3.0) and np.allclose(var, 4.0, rtol=1e-5)


def test_tiny_images_are_padded_and_cropped(runner):
    frames = np.full((2, 5, 3, 3), 128, np.uint8)
    assert stylize_frames(runner, frames).shape == (2, 5, 3, 3)


def test_batches_give_the_same_result(runner):
    frames = np.stack([np.asarray(random_photo(40, 24, seed=s)) for s in range(3)])
    alone = np.concatenate([stylize_frames(runner, f[None]) for f in frames])
    batched = stylize_frames(runner, frames, StylizeOptions(batch_size=2))
    assert np.abs(alone.astype(int) - batched.astype(int)).max() <= 1


def test_stylize_adds_nothing_to_the_network(runner):
    """The border margin is the network's own (tests/models): stylize_frames is the runner's
    output, rounded."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (1, 40, 52, 3), dtype=np.uint8)
    batch = frames.transpose(0, 3, 1, 2).astype(np.float32) / 255
    expected = np.clip(np.rint(runner(batch).transpose(0, 2, 3, 1) * 255), 0, 255)
    assert np.array_equal(stylize_frames(runner, frames, StylizeOptions(tile=0)), expected)

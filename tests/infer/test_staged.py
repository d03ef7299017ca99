"""Staged tiled inference (fst.infer.staged) gives the untiled pixels; its pieces by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fst.infer import staged
from fst.infer.export import export_onnx
from fst.infer.model_file import save_model_file
from fst.infer.runners import open_runner
from fst.infer.stylize import StylizeOptions, stylize_frames
from tests.conftest import random_photo
from tests.inference_models import (  # noqa: F401 (one_torch_thread: autouse fixture)
    STYLES,
    TRAINING,
    one_torch_thread,
    save_tiny_model,
    save_tiny_multi_model,
    tiny_multi_net,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Tiny exported networks: one style (fp32 and fp16), two styles, two styles of the fast arch."""
    folder = tmp_path_factory.mktemp("staged")
    single = save_tiny_model(folder / "single.safetensors")
    pair = save_tiny_multi_model(folder / "pair.safetensors")
    fast = folder / "fast.safetensors"
    save_model_file(tiny_multi_net(arch="fast"), fast, style="fast_pair", training=TRAINING, styles=STYLES)
    out = {}
    for name, source, fp16 in (
        ("single", single, False),
        ("half", single, True),
        ("pair", pair, False),
        ("fast", fast, False),
    ):
        export_onnx(source, folder / f"{name}.onnx", fp16=fp16)
        out[name] = folder / f"{name}.onnx"
    return out


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """(3, H, W) float32 in [0, 1]."""
    return np.asarray(random_photo(width, height, seed)).astype(np.float32).transpose(2, 0, 1) / 255


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
@pytest.mark.parametrize("name", ["single", "pair", "fast"])
def test_staged_matches_untiled(models, runtime, name):
    """Tiles of 40 px on a 150x118 image (sides not on the tile grid), a 0.3/0.7 mix for the
    multi-style models: the untiled pixels up to the float16 storage of the stage bounds."""
    runner = open_runner(models[name], runtime, "cpu")
    style = None if name == "single" else np.array([0.3, 0.7], np.float32)
    image = photo(150, 118, seed=4)
    whole = runner(image[None], style=style)[0]
    out = staged.run_staged(runner, image, tile=40, style=style)
    assert out.shape == image.shape
    diff = np.abs(out - whole)
    assert diff.max() < 2e-3 and diff.mean() < 2e-4


def test_one_plan_serves_every_frame_and_style(models, monkeypatch):
    """Frames of a video: the step graphs are cut for the first and reused; each call
    runs with its own style weights."""
    runner = open_runner(models["pair"], "onnxruntime", "cpu")
    cut, real = [], staged.subgraph
    monkeypatch.setattr(staged, "subgraph", lambda *args: cut.append(args[2]) or real(*args))
    counts = []
    for seed, style in ((7, [1.0, 0.0]), (8, [0.0, 1.0]), (9, [0.5, 0.5])):
        image, weights = photo(120, 88, seed), np.array(style, np.float32)
        out = staged.run_staged(runner, image, tile=40, style=weights)
        assert np.abs(out - runner(image[None], style=weights)[0]).max() < 2e-3
        counts.append(len(cut))
    assert counts[0] > 0 and counts == [counts[0]] * 3


def test_half_precision_graph(models):
    runner = open_runner(models["half"], "onnxruntime", "cpu")
    image = photo(97, 130, seed=5)
    diff = np.abs(staged.run_staged(runner, image, tile=48) - runner(image[None])[0])
    assert diff.max() < 1e-2 and diff.mean() < 1e-3


def test_with_too_small_a_halo_tiles_are_wrong(models, monkeypatch):
    """The halo is what makes owned parts exact: 4 px is less than the first steps'
    receptive field, so tile borders see reflected padding instead of their neighbours."""
    runner = open_runner(models["single"], "onnxruntime", "cpu")
    image = photo(150, 118, seed=4)
    whole = runner(image[None])[0]
    monkeypatch.setattr(staged, "HALO", 4)
    assert np.abs(staged.run_staged(runner, image, tile=40) - whole).max() > 0.02


def test_steps_of_an_exported_network(models):
    """One residual block (width 8): norm inputs at 1, 2 and 4 px per pixel, the block at
    1/4, then 2 and 1. The three at 1/4 are stored, with the block's input and output and
    the output before the margin crop; the others measured. Each step starts from the
    nearest stored tensors."""
    run = staged.StagedRun(open_runner(models["pair"], "onnxruntime", "cpu"), 64)
    norms = [step for step in run.steps if step.norm is not None]
    assert [step.norm for step in norms] == list(range(7))
    assert [run.stride[step.target] for step in norms] == [1, 2, 4, 4, 4, 2, 1]
    assert [step.store for step in norms] == [False, False, True, True, True, False, False]
    stored = [step for step in run.steps if step.store and step.norm is None]
    assert len(stored) == 3 and stored[-1].target.startswith("sigmoid")
    block_input, block_output = stored[0].target, stored[1].target
    assert run.sources[0] == {"image"} and run.sources[-1] == {block_output}
    convolved = norms[4].target  # the block's second convolution: its norm output is added
    assert run.sources[run.steps.index(stored[1])] == {block_input, convolved}


def test_narrow_tiles_still_get_the_border_margin(models, monkeypatch):
    """Tiles of 32 px without a halo: a tile narrower than 33 px would get a smaller
    reflected margin than the image, so it is widened; every pixel is then written."""
    runner = open_runner(models["single"], "onnxruntime", "cpu")
    monkeypatch.setattr(staged, "HALO", 0)
    out = staged.run_staged(runner, photo(150, 118, seed=4), tile=40)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_owned_spans_by_hand():
    assert staged.owned_spans(100, 40, 8) == [(0, 48), (48, 100)]
    assert staged.owned_spans(30, 40, 8) == [(0, 30)]
    assert staged.owned_spans(10, 3, 1) == [(0, 3), (3, 7), (7, 10)]


def test_stylize_frames_stages_onnx_tiles(models):
    """The stylize path (what `fst stylize --tile` runs) stages ONNX models: uint8 frames
    equal to the untiled ones within one level."""
    runner = open_runner(models["single"], "onnxruntime", "cpu")
    frames = (photo(120, 88, seed=6).transpose(1, 2, 0)[None] * 255).round().astype(np.uint8)
    whole = stylize_frames(runner, frames, StylizeOptions(tile=0)).astype(int)
    tiled = stylize_frames(runner, frames, StylizeOptions(tile=40)).astype(int)
    assert np.abs(tiled - whole).max() <= 1

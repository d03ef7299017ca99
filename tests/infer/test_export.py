"""`fst export` -> one ONNX file that ONNX Runtime and OpenCV DNN run like PyTorch."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
import pytest

from fst import __version__
from fst.infer.runners import open_runner
from fst.infer.stylize import StylizeOptions, stylize_frames
from tests.conftest import random_photo, run_cli
from tests.inference_models import (  # noqa: F401 (one_torch_thread: autouse fixture)
    TRAINING,
    export_format_1,
    one_torch_thread,
    save_tiny_model,
)

ODD_SHAPES = [(1, 3, 67, 45), (2, 3, 9, 13), (1, 3, 8, 8)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """(inference file, exported .onnx, the export command's result)."""
    folder = tmp_path_factory.mktemp("export")
    model = save_tiny_model(folder / "tiny.safetensors")
    onnx_path = folder / "tiny.onnx"
    return model, onnx_path, run_cli("export", str(model), "-o", str(onnx_path))


def test_export_reports_its_verification(exported):
    _, onnx_path, result = exported
    assert result.returncode == 0, result.stderr
    match = re.search(r"max abs diff ([0-9.e+-]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) < 1e-3
    assert "1x3x67x45" in result.stdout
    assert sorted(p.name for p in onnx_path.parent.iterdir()) == ["tiny.onnx", "tiny.safetensors"]


def test_onnx_file_is_valid_self_contained_and_described(exported):
    _, onnx_path, _ = exported
    onnx.checker.check_model(str(onnx_path), full_check=True)
    model = onnx.load(str(onnx_path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [20]
    assert not any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("image", "stylized")
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in (inp, out)]
    assert dims == [["batch", 3, "height", "width"]] * 2
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["style"] == "tiny"
    assert json.loads(meta["arch"]) == {"width": 8, "num_res_blocks": 1, "arch": "johnson"}
    assert json.loads(meta["training"]) == TRAINING
    assert "NCHW" in meta["input"] and "[0, 1]" in meta["input"] and meta["precision"] == "fp32"
    assert meta["format_version"] == "2"


def test_export_copies_the_objective_and_style_images(tmp_path):
    """Format 2: the LossConfig settings and the PNG style images travel into the ONNX file."""
    from fst.infer.export import export_onnx
    from fst.infer.model_file import save_model_file
    from tests.inference_models import tiny_net

    png = io.BytesIO()
    random_photo(24, 16, seed=0).save(png, format="PNG")
    objective = {"style_weight": 5.0, "style_size": 24}
    model = tmp_path / "tiny.safetensors"
    save_model_file(tiny_net(), model, "tiny", TRAINING, objective=objective, style_images=[png.getvalue()])
    export_onnx(model, tmp_path / "tiny.onnx")
    info = open_runner(tmp_path / "tiny.onnx").info
    assert (info.objective, info.style_images, info.format_version) == (objective, (png.getvalue(),), 2)
    assert open_runner(model).info.style_images == info.style_images
    # Both files record the fst version that wrote them.
    assert info.producer == open_runner(model).info.producer == f"fst {__version__}"


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_onnxruntime_and_opencv_match_pytorch(exported, shape):
    model, onnx_path, _ = exported
    batch = np.random.default_rng(1).random(shape, dtype=np.float32)
    expected = open_runner(model, "torch", "cpu")(batch)
    for runtime in ("onnxruntime", "opencv"):
        runner = open_runner(onnx_path, runtime, "cpu")
        got = runner(batch)
        assert got.shape == shape and got.dtype == np.float32
        assert np.abs(got - expected).max() < 1e-4, runtime
        assert runner.info.style == "tiny" and runner.name == runtime


def test_norm_statistics_agree_across_runtimes(exported):
    """statistics() and runner(x, stats) mean the same in all three runtimes."""
    model, onnx_path, _ = exported
    rng = np.random.default_rng(2)
    batch, other = rng.random((2, 3, 40, 36), dtype=np.float32), rng.random((1, 3, 24, 28), dtype=np.float32)
    torch_runner = open_runner(model, "torch", "cpu")
    reference = torch_runner.statistics(batch)
    borrowed = torch_runner(batch, torch_runner.statistics(other))
    assert len(reference) == 7  # 3 down convs + 2 in the residual block + 2 up convs
    for runtime in ("onnxruntime", "opencv"):
        runner = open_runner(onnx_path, runtime, "cpu")
        stats = runner.statistics(batch)
        assert len(stats) == len(reference)
        for (mean, var), (ref_mean, ref_var) in zip(stats, reference, strict=True):
            assert mean.shape == ref_mean.shape == (2, ref_mean.shape[1], 1, 1)
            assert np.allclose(mean, ref_mean, atol=1e-4) and np.allclose(var, ref_var, rtol=1e-3, atol=1e-5)
        assert np.abs(runner(batch, stats) - runner(batch)).max() < 1e-5  # own statistics: no change
        assert np.abs(runner(batch, runner.statistics(other)) - borrowed).max() < 1e-4


def test_fp16_export_keeps_float32_io(exported, tmp_path):
    from fst.infer.export import export_onnx

    model, _, _ = exported
    report = export_onnx(model, tmp_path / "half.onnx", fp16=True)
    assert report.precision == "fp16" and report.max_abs_diff < report.tolerance == 2e-2
    runner = open_runner(tmp_path / "half.onnx", "onnxruntime", "cpu")
    assert runner.info.precision == "fp16"
    batch = np.random.default_rng(3).random((1, 3, 33, 21), dtype=np.float32)
    got = runner(batch)
    assert got.dtype == np.float32
    assert np.abs(got - open_runner(model, "torch", "cpu")(batch)).max() < 2e-2


def test_checkpoint_runs_like_its_inference_file(exported, tmp_path):
    """A Lightning-style .ckpt (read with weights_only) gives the same runner output."""
    import torch

    model, _, _ = exported
    from fst.infer.model_file import load_model_file

    net, _ = load_model_file(model)
    ckpt = tmp_path / "last.ckpt"
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    hp = {"width": 8, "num_res_blocks": 1, "style_image": "x/tiny.jpg", "style_weight": 5.0, "lr": 0.1}
    torch.save({"hyper_parameters": hp, "state_dict": state}, ckpt)
    batch = np.random.default_rng(4).random((1, 3, 20, 28), dtype=np.float32)
    from_ckpt = open_runner(ckpt)
    assert from_ckpt.name == "torch" and from_ckpt.info.style == "tiny"
    assert from_ckpt.info.objective == {"style_weight": 5.0}, "flat settings of older checkpoints"
    torch.save({"hyper_parameters": {**hp, "loss": {"style_weight": 7.0}}, "state_dict": state}, ckpt)
    assert open_runner(ckpt).info.objective == {"style_weight": 7.0}
    assert np.array_equal(from_ckpt(batch), open_runner(model)(batch))


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_format_1_onnx_gives_the_pixels_it_gave_before(exported, tmp_path, runtime):
    """Before format 2, fst stylize added the reflected margin in numpy around a bare graph;
    the runners now do that for format-1 files, whole or tiled."""
    import onnxruntime

    model, onnx_path, _ = exported
    legacy = open_runner(export_format_1(model, tmp_path / "v1.onnx"), runtime, "cpu")
    assert legacy.info.format_version == 1 and not legacy.info.adds_margin
    batch = np.random.default_rng(6).random((2, 3, 45, 61), dtype=np.float32)
    padded = np.pad(batch, ((0, 0), (0, 0), (32, 32), (32, 32)), mode="reflect")
    session = onnxruntime.InferenceSession(str(tmp_path / "v1.onnx"), providers=["CPUExecutionProvider"])
    (before,) = session.run(["stylized"], {"image": padded})
    assert np.abs(legacy(batch) - before[:, :, 32:-32, 32:-32]).max() < 1e-5
    current = open_runner(onnx_path, runtime, "cpu")
    assert np.abs(legacy(batch) - current(batch)).max() < 1e-5
    frames = (batch.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    tiled = stylize_frames(legacy, frames, StylizeOptions(tile=32)).astype(int)  # tiles, not steps
    with mock.patch("fst.infer.stylize.can_stage", return_value=False):  # the same tiles for format 2
        tiled_current = stylize_frames(current, frames, StylizeOptions(tile=32)).astype(int)
    assert np.abs(tiled - tiled_current).max() <= 1


def test_onnx_stylize_never_imports_torch(exported, tmp_path):
    """The deployment path (image -> onnxruntime -> image, tiled too) loads no torch."""
    _, onnx_path, _ = exported
    from PIL import Image

    pixels = np.random.default_rng(5).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    code = (
        "import sys\n"
        "from fst.cli import main\n"
        f"rc = main(['stylize', {str(tmp_path / 'a.png')!r}, '-m', {str(onnx_path)!r},"
        f" '-o', {str(tmp_path / 'b.png')!r}, '--tile', '40'])\n"
        "assert rc == 0, rc\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout
    assert Image.open(tmp_path / "b.png").size == (90, 70)


def test_export_of_a_bad_model_is_one_line(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    result = run_cli("export", str(bad), "-o", str(tmp_path / "out.onnx"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "fst: error:" in result.stderr, result.stderr
    assert "not a readable model file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.safetensors"]


def test_export_needs_an_onnx_suffix(exported, tmp_path):
    model, _, _ = exported
    result = run_cli("export", str(model), "-o", str(tmp_path / "model.bin"))
    assert result.returncode == 1 and "must end in .onnx" in result.stderr

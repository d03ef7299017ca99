"""`fst stylize` through the command line, as a user runs it: sizes, orientation, alpha,
colour, strength, folders with a bad file, and the one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from fst.infer.export import export_onnx
from fst.infer.stylize import RGB_TO_YCBCR
from tests.conftest import random_photo, run_cli
from tests.inference_models import save_tiny_model


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """CLI subprocesses use one PyTorch thread (two fight each other on a busy machine)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The tiny net as an inference file and as an exported .onnx (fast to start: no torch)."""
    folder = tmp_path_factory.mktemp("models")
    model = save_tiny_model(folder / "tiny.safetensors")
    export_onnx(model, folder / "tiny.onnx")
    return {"safetensors": model, "onnx": folder / "tiny.onnx"}


def stylize(*args: str | Path):
    return run_cli("stylize", *map(str, args))


def one_error_line(stderr: str) -> str:
    """The single line a user sees; fails on tracebacks or extra lines."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fst: error: "), stderr
    return lines[0]


def pixels(path: Path, mode: str = "RGB") -> np.ndarray:
    return np.asarray(Image.open(path).convert(mode)).astype(np.float32)


def test_odd_sized_image_keeps_its_size(models, tmp_path):
    random_photo(101, 77, seed=1).save(tmp_path / "in.jpg")
    result = stylize(tmp_path / "in.jpg", "-m", models["onnx"], "-o", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    assert "onnxruntime" in result.stdout
    out = Image.open(tmp_path / "out.png")
    assert (out.size, out.mode) == ((101, 77), "RGB")
    assert np.abs(pixels(tmp_path / "out.png") - pixels(tmp_path / "in.jpg")).mean() > 10  # it did something


def test_runtimes_give_the_same_picture(models, tmp_path):
    random_photo(60, 44, seed=2).save(tmp_path / "in.png")
    outs = {}
    for runtime, model in (("torch", "safetensors"), ("onnxruntime", "onnx"), ("opencv", "onnx")):
        out = tmp_path / f"{runtime}.png"
        result = stylize(tmp_path / "in.png", "-m", models[model], "-o", out, "--runtime", runtime)
        assert result.returncode == 0, result.stderr
        outs[runtime] = pixels(out)
    assert np.abs(outs["onnxruntime"] - outs["torch"]).max() <= 1
    assert np.abs(outs["opencv"] - outs["onnxruntime"]).max() <= 1


def test_rgba_png_keeps_its_alpha(models, tmp_path):
    rgba = np.asarray(random_photo(50, 40, seed=3).convert("RGBA")).copy()
    rgba[..., 3] = np.tile(np.linspace(0, 255, 50).astype(np.uint8), (40, 1))
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = stylize(tmp_path / "in.png", "-m", models["safetensors"], "-o", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr
    out = Image.open(tmp_path / "out.png")
    assert (out.size, out.mode) == ((50, 40), "RGBA")
    assert np.array_equal(np.asarray(out)[..., 3], rgba[..., 3])


def test_exif_rotated_jpeg_comes_back_upright(models, tmp_path):
    """Stored 64x40 with orientation 6 (rotate 90 degrees clockwise): upright it is 40x64."""
    exif = Image.Exif()
    exif[0x0112] = 6
    random_photo(64, 40, seed=4).save(tmp_path / "in.jpg", exif=exif, quality=95)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "in.jpg"))).astype(np.float32)
    out = tmp_path / "out.png"
    # strength 0 returns the (upright) input, so orientation is checked pixel by pixel
    result = stylize(tmp_path / "in.jpg", "-m", models["onnx"], "-o", out, "--strength", "0")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (40, 64)
    assert np.array_equal(pixels(out), upright)
    assert stylize(tmp_path / "in.jpg", "-m", models["onnx"], "-o", tmp_path / "s.png").returncode == 0
    assert Image.open(tmp_path / "s.png").size == (40, 64)


def test_strength_blends_linearly(models, tmp_path):
    random_photo(48, 36, seed=5).save(tmp_path / "in.png")
    for strength in ("0", "0.5", "1"):
        out = tmp_path / f"s{strength}.png"
        result = stylize(tmp_path / "in.png", "-m", models["onnx"], "-o", out, "--strength", strength)
        assert result.returncode == 0, result.stderr
    original, half, full = (pixels(tmp_path / n) for n in ("in.png", "s0.5.png", "s1.png"))
    assert np.array_equal(pixels(tmp_path / "s0.png"), original)
    assert np.abs(half - (original + full) / 2).max() <= 1.0
    assert np.abs(full - original).mean() > 10


def test_preserve_color_keeps_the_chrominance(models, tmp_path):
    """Output Cb/Cr = input Cb/Cr (Gatys et al. 2017); Y = the stylized output's Y."""
    random_photo(64, 48, seed=6).save(tmp_path / "in.png")
    plain, kept = tmp_path / "plain.png", tmp_path / "kept.png"
    assert stylize(tmp_path / "in.png", "-m", models["onnx"], "-o", plain).returncode == 0
    result = stylize(tmp_path / "in.png", "-m", models["onnx"], "-o", kept, "--preserve-color")
    assert result.returncode == 0, result.stderr
    ycc_in, ycc_plain, ycc_kept = (pixels(p) @ RGB_TO_YCBCR.T for p in (tmp_path / "in.png", plain, kept))
    assert np.abs(ycc_kept[..., 1:] - ycc_in[..., 1:]).mean() < 1.0  # rounding (and rare clipping)
    assert np.abs(ycc_kept[..., 0] - ycc_plain[..., 0]).mean() < 1.0
    assert np.abs(ycc_plain[..., 1:] - ycc_in[..., 1:]).mean() > 5  # the plain output's colours differ


def test_max_size_still_returns_the_input_size(models, tmp_path):
    random_photo(101, 77, seed=7).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    result = stylize(tmp_path / "in.png", "-m", models["onnx"], "-o", out, "--max-size", "40")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (101, 77)


def test_folder_with_a_corrupt_file(models, tmp_path):
    source, target = tmp_path / "photos", tmp_path / "styled"
    (source / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.png", "sub/c.jpg"):
        random_photo(40, 32, seed=len(name)).save(source / name)
    (source / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    result = stylize(source, "-m", models["onnx"], "-o", target, "--batch-size", "2")
    assert result.returncode == 1
    assert "3 done, 1 failed" in result.stdout
    line = one_error_line(result.stderr)
    assert "broken.jpg" in line
    written = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert written == ["a.jpg", "b.png", "sub/c.jpg"]  # same names, formats kept, nothing partial
    assert Image.open(target / "sub/c.jpg").size == (40, 32)


def test_folder_format_and_rerun_skips_existing(models, tmp_path):
    source, target = tmp_path / "photos", tmp_path / "out"
    source.mkdir()
    for i in range(2):
        random_photo(24, 24, seed=i).save(source / f"{i}.jpg")
    assert stylize(source, "-m", models["onnx"], "-o", target, "--format", "png").returncode == 0
    assert sorted(p.name for p in target.iterdir()) == ["0.png", "1.png"]
    again = stylize(source, "-m", models["onnx"], "-o", target, "--format", "png")
    assert again.returncode == 0 and "0 done, 0 failed, 2 skipped" in again.stdout


def test_never_overwrites_the_input_without_overwrite(models, tmp_path):
    photo = tmp_path / "in.png"
    random_photo(32, 32, seed=8).save(photo)
    before = photo.read_bytes()
    result = stylize(photo, "-m", models["onnx"], "-o", photo)
    assert result.returncode == 1 and "is the input file" in one_error_line(result.stderr)
    assert photo.read_bytes() == before
    assert stylize(photo, "-m", models["onnx"], "-o", photo, "--overwrite").returncode == 0
    assert photo.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_missing_input_is_one_line(models, tmp_path):
    result = stylize(tmp_path / "nope.jpg", "-m", models["onnx"], "-o", tmp_path / "out.png")
    assert result.returncode == 1
    assert "nope.jpg: no such file or folder" in one_error_line(result.stderr)


def test_corrupt_image_file_is_one_line(models, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = stylize(tmp_path / "bad.png", "-m", models["onnx"], "-o", tmp_path / "out.png")
    assert result.returncode == 1 and "bad.png" in one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cut.onnx", None, "onnxruntime cannot load this model"),
        ("junk.safetensors", b"\x00" * 100, "not a readable model file"),
        ("model.pt", b"", "unknown model file type"),
    ],
)
def test_bad_model_file_is_one_line(models, tmp_path, name, content, message):
    bad = tmp_path / name
    bad.write_bytes(models["onnx"].read_bytes()[:4000] if content is None else content)
    random_photo(16, 16, seed=9).save(tmp_path / "in.png")
    result = stylize(tmp_path / "in.png", "-m", bad, "-o", tmp_path / "out.png")
    assert result.returncode == 1 and message in one_error_line(result.stderr)
    assert not (tmp_path / "out.png").exists()


def test_output_folder_that_cannot_be_created_is_one_line(models, tmp_path):
    (tmp_path / "photos").mkdir()
    random_photo(16, 16, seed=10).save(tmp_path / "photos/a.png")
    (tmp_path / "file.txt").write_text("not a folder")
    result = stylize(tmp_path / "photos", "-m", models["onnx"], "-o", tmp_path / "file.txt/out")
    assert result.returncode == 1 and "cannot create the output folder" in one_error_line(result.stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_read_only_output_folder_is_one_line(models, tmp_path):
    random_photo(16, 16, seed=11).save(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = stylize(tmp_path / "a.png", "-m", models["onnx"], "-o", locked / "out.png")
    finally:
        locked.chmod(0o755)
    assert result.returncode == 1 and "not writable" in one_error_line(result.stderr)

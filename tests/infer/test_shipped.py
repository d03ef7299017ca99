"""The trained styles in checkpoints/: complete, consistent, reachable as ``-m NAME``, and
giving the pixels of ``fst stylize`` in a plain onnxruntime session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from fst.infer.runners import onnx_info, open_runner
from fst.infer.shipped import SOURCE_TREE_DIR, resolve_model, shipped_styles
from tests.conftest import random_photo

SHIPPED = ("eight_styles", "great_wave", "shipwreck_of_the_minotaur", "starry_night", "starry_night_fast")
SINGLE = SHIPPED[1:]  # one painting each; eight_styles holds eight (conditional instance norm)
PHOTO = "fst/assets/photos/coco_000000000785.jpg"
FST = [sys.executable, "-m", "fst.cli"]


def run_fst(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FST, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def small_photo() -> np.ndarray:
    """The bundled photo at 64x48 as a (1, 3, 48, 64) float batch in [0, 1]."""
    with Image.open(PHOTO) as img:
        rgb = np.asarray(img.convert("RGB").resize((64, 48), Image.Resampling.BILINEAR))
    return (rgb.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy()


def test_three_styles_ship_with_their_recipe():
    styles = shipped_styles()
    assert tuple(style.name for style in styles) == SHIPPED
    for style in styles:
        training = style.recipe["training"]
        assert style.onnx.parent == SOURCE_TREE_DIR
        if training["arch"] == "johnson":  # less the paintings stored as base64 PNG in the metadata
            paintings = sum(len(png) for png in onnx_info(style.onnx).style_images) * 4 / 3
            assert 5e6 < style.onnx.stat().st_size - paintings < 9e6, "fp32 ONNX of the full network"
            assert 2.5e6 < style.safetensors.stat().st_size - paintings < 4.5e6, "fp16 weights"
        assert training["steps"] > 0 and training["wall_time_s"] > 0
        assert f"--config configs/styles/{style.name}.yaml" in style.recipe["command"]
        assert os.path.isfile(f"configs/styles/{style.name}.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_onnx_and_safetensors_agree_on_a_64x48_photo(name):
    batch = small_photo()
    from_onnx = open_runner(resolve_model(name), "onnxruntime")(batch)
    from_torch = open_runner(resolve_model(name, "torch"), "torch")(batch)
    assert from_onnx.shape == from_torch.shape == batch.shape
    # fp32 ONNX vs fp16 weights computed in fp32: rounding of the weights only.
    assert np.abs(from_onnx - from_torch).max() < 0.03
    assert np.abs(from_onnx - from_torch).mean() < 0.003
    assert np.abs(from_onnx - batch).mean() > 0.05, "a trained style changes the photo"


def test_dash_m_name_resolves_on_the_command_line(tmp_path):
    out_onnx, out_torch = tmp_path / "onnx.png", tmp_path / "torch.png"
    assert run_fst("stylize", PHOTO, "-m", "starry_night", "-o", str(out_onnx)).returncode == 0
    result = run_fst("stylize", PHOTO, "-m", "starry_night", "--runtime", "torch", "-o", str(out_torch))
    assert result.returncode == 0, result.stderr
    assert "(torch on cpu)" in result.stdout
    photo = np.asarray(Image.open(PHOTO).convert("RGB"), dtype=np.float32).transpose(2, 0, 1)[None] / 255
    expected = open_runner(SOURCE_TREE_DIR / "starry_night.onnx")(photo)[0]
    expected_u8 = np.round(np.clip(expected, 0, 1) * 255).transpose(1, 2, 0)
    got = np.asarray(Image.open(out_onnx), dtype=np.float32)
    assert np.abs(got - expected_u8).max() <= 1
    assert np.abs(got - np.asarray(Image.open(out_torch), dtype=np.float32)).mean() < 1.5


def plain_onnxruntime(model: Path, image: Path) -> np.ndarray:
    """What a third party does with a shipped .onnx: onnxruntime, numpy and PIL only (no
    fst). PNG in -> (H, W, 3) uint8 out."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rgb = np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 255
    inputs = {"image": rgb.transpose(2, 0, 1)[None]}
    if len(session.get_inputs()) == 2:  # a multi-style model: its first style, one-hot
        (count,) = session.get_inputs()[1].shape
        inputs["style"] = np.eye(count, dtype=np.float32)[0]
    (out,) = session.run(["stylized"], inputs)
    return np.clip(np.rint(out[0].transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", SHIPPED)
def test_plain_onnxruntime_gives_the_pixels_of_fst_stylize(name, tmp_path):
    """The inference contract (border margin, padding, crop) is inside the graph."""
    photo, styled = tmp_path / "photo.png", tmp_path / "styled.png"
    random_photo(203, 137, seed=7).save(photo)
    result = run_fst("stylize", str(photo), "-m", name, "-o", str(styled))
    assert result.returncode == 0, result.stderr
    expected = np.asarray(Image.open(styled), dtype=np.float32)
    diff = np.abs(plain_onnxruntime(SOURCE_TREE_DIR / f"{name}.onnx", photo) - expected)  # in 1/255
    assert diff.mean() <= 1 and diff.max() <= 1  # measured: identical (before format 2: mean 9-19)


def test_unknown_name_lists_the_shipped_styles():
    result = run_fst("stylize", PHOTO, "-m", "mona_lisa", "-o", "never.png")
    assert result.returncode == 1
    assert result.stderr == (
        f"fst: error: mona_lisa: no such model file or shipped style (shipped styles: {', '.join(SHIPPED)})\n"
    )
    assert not os.path.exists("never.png")


def test_fst_models_lists_names_paintings_and_quality():
    result = run_fst("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PAINTING", "TRAINING", "QUALITY"]
    rows = [line for line in lines[1:] if not line.startswith(" ")]  # indented: styles inside a model
    assert [row.split()[0] for row in rows] == list(SHIPPED)
    assert "The Starry Night (Vincent van Gogh, 1889)" in result.stdout
    assert all("L-BFGS iterations" in row for row in rows if row.split()[0] in SINGLE)
    assert rows[0].split()[1:3] == ["8", "paintings"] and lines[2].startswith("    styles (pick or mix")


def test_fst_models_dir_adds_a_users_folder_first(tmp_path):
    """A style of the user's folder is listed beside the shipped ones, and one named like
    a shipped style wins over it (its own files run)."""
    for name, source in (("mine", "great_wave"), ("starry_night", "shipwreck_of_the_minotaur")):
        for suffix in (".onnx", ".safetensors", ".json"):
            shutil.copy(SOURCE_TREE_DIR / f"{source}{suffix}", tmp_path / f"{name}{suffix}")
    result = run_fst("models", FST_MODELS_DIR=f"{tmp_path / 'missing'}{os.pathsep}{tmp_path}")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if not line.startswith(" ")]
    assert names == ["mine", "starry_night", *(name for name in SHIPPED if name != "starry_night")]
    photo = tmp_path / "photo.png"
    Image.open(PHOTO).resize((40, 30)).save(photo)
    for model, expected in (("starry_night", "shipwreck_of_the_minotaur"), ("great_wave", "great_wave")):
        out = tmp_path / f"{model}.png"
        result = run_fst("stylize", str(photo), "-m", model, "-o", str(out), FST_MODELS_DIR=str(tmp_path))
        assert result.returncode == 0, result.stderr
        reference = tmp_path / f"{model}_reference.png"
        run_fst("stylize", str(photo), "-m", str(SOURCE_TREE_DIR / f"{expected}.onnx"), "-o", str(reference))
        assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(reference))), model


def test_no_styles_anywhere_says_where_it_looked(tmp_path, monkeypatch):
    from fst.commands.models import run
    from fst.errors import FstError
    from fst.infer import shipped

    monkeypatch.setattr(shipped, "SOURCE_TREE_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(shipped, "INSTALLED_DIR", tmp_path / "share")
    monkeypatch.setenv("FST_MODELS_DIR", str(tmp_path / "mine"))
    where = f"{tmp_path / 'mine'}, {tmp_path / 'share'}"
    expected = f"no styles found in {where} (FST_MODELS_DIR adds a folder of yours)"
    with pytest.raises(FstError) as error:
        run(None)
    assert str(error.value) == expected


def test_webcam_fast_runs_the_real_time_variant_at_capture_size(tmp_path):
    from tests.infer.test_video import make_video

    make_video(tmp_path / "cam.mp4", frames=4, size=(480, 360), audio=False)
    source = ["--source", str(tmp_path / "cam.mp4"), "--no-display", "--max-frames", "3"]
    result = run_fst("webcam", "-m", "starry_night", "--fast", *source)
    assert result.returncode == 0, result.stderr
    # The full network would be given 320x240 on a CPU; the real-time one the capture size.
    assert "3 frames at" in result.stdout and "stylized at 480x360" in result.stdout
    assert shipped_styles()[SHIPPED.index("starry_night_fast")].recipe["training"]["arch"] == "fast"
    wrong = run_fst("webcam", "-m", "great_wave", "--fast", *source)
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "fst: error: --fast: no real-time variant of 'great_wave' ships (real-time styles: "
        "starry_night_fast); for your own model, train it with --model.arch fast\n"
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_style_config_reproduces_the_recipe(name):
    """configs/shipped.yaml + configs/styles/NAME.yaml, as train.py resolves them, match
    what the shipped file was trained with."""
    command = [sys.executable, "train.py", "fit", "--config", "configs/shipped.yaml"]
    style = next(style for style in shipped_styles() if style.name == name)
    art = style.recipe.get("painting") or style.recipe["paintings"]  # one painting, or a folder of them
    source = art.get("file") or art["folder"]
    painting = f"paintings/{source}"  # given on the command line, never read
    command += ["--config", f"configs/styles/{name}.yaml", "--model.style_image", painting, "--print_config"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    trained = style.recipe["training"]
    assert config["run_name"] == name
    assert os.path.basename(config["model"]["style_image"]) == source
    assert config["trainer"]["max_steps"] == trained["steps"]
    assert config["trainer"]["precision"] == trained["precision"]
    assert config["data"]["image_size"] == trained["image_size"]
    assert config["data"]["batch_size"] == trained["batch_size"]
    for key in ("arch", "width"):
        assert config["model"][key] == trained[key], key
    for key in ("style_size", "style_weight", "content_weight", "tv_weight", "style_loss"):
        assert config["model"]["loss"][key] == trained[key], key


def test_a_broken_recipe_is_one_line(tmp_path):
    for name in ("bad.onnx", "bad.safetensors"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "bad.json").write_text("[1, 2]")
    result = run_fst("models", FST_MODELS_DIR=str(tmp_path))
    assert (result.returncode, result.stderr) == (
        1,
        f"fst: error: {tmp_path / 'bad.json'}: not a shipped-style recipe (no 'training' entry)\n",
    )
    (tmp_path / "bad.json").write_text("{not json")
    output = str(tmp_path / "o.png")
    result = run_fst("stylize", PHOTO, "-m", "bad", "-o", output, FST_MODELS_DIR=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"fst: error: {tmp_path / 'bad.json'}: unreadable recipe (")
    assert result.stderr.count("\n") == 1

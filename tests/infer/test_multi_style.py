"""A model holding several styles: its files, its ONNX export with a ``style`` input, mixing
in every runtime, and ``--style`` on the command line as a user types it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from fst.errors import FstError
from fst.infer import tiling
from fst.infer.export import export_onnx
from fst.infer.model_file import load_model_file, save_model_file
from fst.infer.runners import open_runner
from fst.infer.shipped import shipped_styles
from fst.infer.stylize import StylizeOptions, stylize_frames
from fst.infer.webcam import StyleKeys
from tests.conftest import random_photo, run_cli
from tests.infer.test_video import make_video, read_video
from tests.inference_models import (  # noqa: F401 (one_torch_thread: autouse fixture)
    STYLES,
    TRAINING,
    one_torch_thread,
    save_tiny_model,
    save_tiny_multi_model,
    tiny_multi_net,
)

RUNTIMES = ["onnxruntime", "opencv"]
MIX = np.array([0.3, 0.7], dtype=np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The tiny two-style model (safetensors and exported ONNX) and a single-style one."""
    folder = tmp_path_factory.mktemp("multi")
    pair = save_tiny_multi_model(folder / "pair.safetensors")
    export_onnx(pair, folder / "pair.onnx")
    single = save_tiny_model(folder / "single.safetensors")
    export_onnx(single, folder / "single.onnx")
    return {"safetensors": pair, "onnx": folder / "pair.onnx", "single": folder / "single.onnx"}


def ship(models: dict[str, Path], folder: Path) -> Path:
    """``folder`` as a shipped-styles folder holding the two-style model and the single one."""
    recipe = {"training": {"steps": 10, "image_size": 64, "wall_time_s": 120}}
    for name, onnx_file in (("pair", models["onnx"]), ("single", models["single"])):
        shutil.copy(onnx_file, folder / f"{name}.onnx")
        shutil.copy(onnx_file.with_suffix(".safetensors"), folder / f"{name}.safetensors")
        (folder / f"{name}.json").write_text(json.dumps(recipe))
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    random_photo(40, 28, seed=3).save(path)
    return path


def test_the_model_file_keeps_the_style_names_and_weights(models):
    net, info = load_model_file(models["safetensors"])
    assert (info.style, info.styles, info.style_names) == ("tiny_pair", STYLES, STYLES)
    assert info.arch["num_styles"] == 2
    expected = tiny_multi_net().state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in net.state_dict().items())


def test_style_names_that_do_not_fit_the_network_are_not_written(tmp_path):
    path = tmp_path / "bad.safetensors"
    cases = {
        ("ink",): "'styles' names 1 styles, the network holds 2",
        ("ink", "ink"): "'styles' names a style twice",
        ("ink", "two\nlines"): "style name 'two\\nlines' is not a short one-line name",
    }
    for styles, reason in cases.items():
        with pytest.raises(FstError) as caught:
            save_model_file(tiny_multi_net(), path, "pair", TRAINING, styles=styles)
        assert str(caught.value) == f"{path}: cannot store the style names ({reason})"
    with pytest.raises(FstError, match=r"cannot store the style names \(1 style images for 2 styles\)"):
        save_model_file(
            tiny_multi_net(), path, "pair", TRAINING, styles=STYLES, style_images=[b"\x89PNG\r\n\x1a\n"]
        )
    assert not path.exists()


def test_the_onnx_file_takes_the_style_weights_as_its_second_input(models):
    model = onnx.load(str(models["onnx"]))
    inputs = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    assert inputs == {"image": ["batch", 3, "height", "width"], "style": [2]}
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["styles"]) == list(STYLES)
    assert meta["style_input"].startswith("style: float32 (S,) mixing weights")


def test_a_style_input_that_does_not_fit_the_metadata_is_one_line(models, tmp_path):
    model = onnx.load(str(models["onnx"]))
    meta = {p.key: p.value for p in model.metadata_props}
    three = {
        "arch": json.dumps({"width": 8, "num_res_blocks": 1, "num_styles": 3}),
        "styles": '["a", "b", "c"]',
    }
    one = {"arch": json.dumps({"width": 8, "num_res_blocks": 1}), "styles": "[]"}
    cases = {
        "three.onnx": (
            three,
            "the graph's 'style' input (shape [2]) does not fit the 3 styles its metadata names",
        ),
        "single.onnx": (one, "the graph's 'style' input (shape [2]) does not fit its metadata (one style)"),
    }
    for name, (changes, reason) in cases.items():
        onnx.helper.set_model_props(model, {**meta, **changes})
        onnx.save(model, str(tmp_path / name))
        with pytest.raises(FstError) as caught:
            open_runner(tmp_path / name)
        assert str(caught.value) == f"{tmp_path / name}: {reason}"


@pytest.mark.parametrize("style", [None, [1.0, 0.0], [0.0, 1.0], [0.3, 0.7]])
def test_plain_onnxruntime_mixes_like_torch(models, style):
    """A third party needs nothing of fst: session.run with the weights gives torch's pixels."""
    net = tiny_multi_net()
    batch = np.random.default_rng(0).random((2, 3, 45, 37), dtype=np.float32)
    weights = np.array(style or [1.0, 0.0], dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(batch), torch.from_numpy(weights)).numpy()
    session = ort.InferenceSession(str(models["onnx"]), providers=["CPUExecutionProvider"])
    (got,) = session.run(["stylized"], {"image": batch, "style": weights})
    assert np.abs(got - expected).max() < 1e-4
    if style is None:  # the runners' default: the first style
        assert np.abs(open_runner(models["onnx"])(batch) - expected).max() < 1e-4


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("shape", [(1, 3, 67, 45), (2, 3, 9, 13)])
def test_every_runtime_mixes_like_torch(models, runtime, shape):
    torch_runner = open_runner(models["safetensors"], "torch", "cpu")
    runner = open_runner(models["onnx"], runtime, "cpu")
    batch = np.random.default_rng(1).random(shape, dtype=np.float32)
    for weights in (np.eye(2, dtype=np.float32)[1], MIX):
        expected = torch_runner(batch, style=weights)
        assert np.abs(runner(batch, style=weights) - expected).max() < 1e-4
    assert np.abs(torch_runner(batch, style=MIX) - torch_runner(batch)).max() > 0.01  # weights matter


@pytest.mark.parametrize("runtime", ["torch", *RUNTIMES])
def test_tiles_of_a_mix_match_the_whole_image(models, runtime):
    """Tiling (whole-image norm statistics) runs with the mix too."""
    runner = open_runner(models["safetensors" if runtime == "torch" else "onnx"], runtime, "cpu")
    image = np.random.default_rng(2).random((3, 96, 80), dtype=np.float32)
    whole = runner(image[None], style=MIX)[0]
    tiled = tiling.run_tiled(runner, image, tile=64, style=MIX)
    assert np.abs(tiled - whole).mean() < 0.01
    other = runner(image[None], style=np.array([1.0, 0.0], np.float32))[0]
    assert np.abs(other - whole).mean() > 0.01


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_weights_of_the_wrong_length_are_refused(models, runtime):
    runner = open_runner(models["safetensors" if runtime == "torch" else "onnx"], runtime, "cpu")
    with pytest.raises(ValueError, match=r"style weights must have shape \(2,\), got \(3,\)"):
        runner(np.zeros((1, 3, 8, 8), np.float32), style=np.ones(3, np.float32))


# ---- the command line -------------------------------------------------------------------


def stylized(result, output: Path) -> np.ndarray:
    assert result.returncode == 0, result.stderr
    return np.asarray(Image.open(output)).astype(int)


def test_fst_stylize_paints_a_style_or_a_normalised_mix(models, photo, tmp_path):
    rgb = np.asarray(Image.open(photo))
    runner = open_runner(models["onnx"])
    for text, weights in (("fire", (0.0, 1.0)), ("ink=3, fire=7", (0.3, 0.7)), ("ink,fire", (0.5, 0.5))):
        output = tmp_path / f"{len(text)}.png"
        got = stylized(
            run_cli("stylize", str(photo), "-m", str(models["onnx"]), "--style", text, "-o", str(output)),
            output,
        )
        expected = stylize_frames(runner, rgb[None], StylizeOptions(style=weights))[0]
        assert np.abs(got - expected).max() <= 1, text
    default = stylized(
        run_cli("stylize", str(photo), "-m", str(models["onnx"]), "-o", str(tmp_path / "d.png")),
        tmp_path / "d.png",
    )
    assert np.abs(default - stylize_frames(runner, rgb[None], StylizeOptions(style=(1.0, 0.0)))[0]).max() <= 1


@pytest.mark.parametrize(
    ("style", "line"),
    [
        ("ice", "--style: unknown style 'ice' (this model's styles: ink, fire)"),
        ("ink=-0.5,fire=1", "--style: the weight of 'ink' must be a finite number >= 0, got -0.5"),
        ("ink=0,fire=0", "--style: the weights of 'ink=0,fire=0' sum to 0; at least one must be positive"),
        ("ink=0.5,,fire", "--style: 'ink=0.5,,fire' is not NAME or NAME=WEIGHT,NAME=WEIGHT,..."),
        ("=0.5", "--style: '=0.5' is not NAME or NAME=WEIGHT,NAME=WEIGHT,..."),
        ("ink=half", "--style: the weight of 'ink' must be a number, got 'half'"),
        ("ink=nan", "--style: the weight of 'ink' must be a finite number >= 0, got nan"),
        ("ink,fire=1,ink=2", "--style: 'ink' is named twice"),
    ],
)
def test_a_bad_style_is_one_line_and_writes_nothing(models, photo, tmp_path, style, line):
    output = tmp_path / "out.png"
    result = run_cli("stylize", str(photo), "-m", str(models["onnx"]), "--style", style, "-o", str(output))
    assert result.returncode == 1
    assert result.stderr == f"fst: error: {line}\n"
    assert not output.exists()


def test_a_single_style_model_takes_only_its_own_style(models, photo, tmp_path):
    output = tmp_path / "out.png"
    ok = run_cli("stylize", str(photo), "-m", str(models["single"]), "--style", "tiny", "-o", str(output))
    assert ok.returncode == 0, ok.stderr
    other = tmp_path / "other.png"
    result = run_cli("stylize", str(photo), "-m", str(models["single"]), "--style", "fire", "-o", str(other))
    assert result.returncode == 1
    assert (
        result.stderr == "fst: error: --style: 'fire' is not in this single-style model (its style: tiny)\n"
    )
    assert not other.exists()


@pytest.mark.parametrize("command", ["video", "webcam"])
def test_fst_video_and_webcam_paint_the_chosen_style(models, tmp_path, command):
    """Every output frame is the chosen style's (closer to it than to the other style)."""
    make_video(tmp_path / "in.mp4", frames=4, audio=False)
    source = [str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")]
    if command == "webcam":
        source = ["--source", source[0], "--no-display", "--output", source[1]]
    result = run_cli(command, *source, "-m", str(models["onnx"]), "--style", "fire", "--temporal", "0")
    assert result.returncode == 0, result.stderr
    frames = np.stack(read_video(tmp_path / "in.mp4")["frames"])
    runner = open_runner(models["onnx"])
    fire, ink = (stylize_frames(runner, frames, StylizeOptions(style=w)) for w in ((0.0, 1.0), (1.0, 0.0)))
    got = np.stack(read_video(tmp_path / "out.mp4")["frames"]).astype(float)
    assert np.abs(got - fire).mean() < 0.25 * np.abs(got - ink).mean()
    bad = run_cli(command, *source, "-m", str(models["onnx"]), "--style", "ice")
    assert bad.returncode == 1
    assert bad.stderr == "fst: error: --style: unknown style 'ice' (this model's styles: ink, fire)\n"


def test_webcam_keys_pick_and_blend_styles():
    keys = StyleKeys(("a", "b", "c"))
    assert keys.weights == (1.0, 0.0, 0.0) and keys.label() == "a"
    assert keys.press(ord("3")) and keys.weights == (0.0, 0.0, 1.0)
    assert keys.press(ord("b")) and keys.weights == (0.5, 0.0, 0.5) and keys.label() == "a 50% + c 50%"
    assert keys.press(ord("b")) and keys.weights == (0.5, 0.5, 0.0)  # the blend moves on: a + b
    assert keys.press(ord("n")) and keys.weights == (0.0, 1.0, 0.0)
    assert not keys.press(ord("2")) and not keys.press(ord("9")) and not keys.press(ord("x"))
    mixed = StyleKeys(("a", "b"), (0.3, 0.7))  # from --style: kept until a key changes it
    assert mixed.weights == (0.3, 0.7) and mixed.press(ord("n")) and mixed.weights == (1.0, 0.0)


def test_fst_models_lists_the_styles_inside_a_multi_style_model(models, photo, tmp_path, monkeypatch):
    monkeypatch.setenv("FST_MODELS_DIR", str(ship(models, tmp_path)))
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "pair",
        "2",
        "paintings",
        "10",
        "steps,",
        "64",
        "px",
        "crops,",
        "2",
        "min",
        "not",
        "evaluated",
    ]
    assert lines[2] == "    styles (pick or mix with --style): ink, fire"
    assert lines[3].startswith("single ")  # a single-style model: its row alone
    names = [line.split()[0] for line in lines[1:] if not line.startswith(" ")]
    assert names == [style.name for style in shipped_styles()]  # then the shipped ones (FST_MODELS_DIR adds)
    by_name = run_cli("stylize", str(photo), "-m", "pair", "--style", "fire", "-o", str(tmp_path / "o.png"))
    assert by_name.returncode == 0, by_name.stderr  # -m NAME takes the shipped multi-style model


def test_a_multi_style_checkpoint_names_its_styles(tmp_path):
    from fst.infer.model_file import load_checkpoint

    state = {f"net.{k}": v for k, v in tiny_multi_net().state_dict().items()}
    hp = {"width": 8, "num_res_blocks": 1, "num_styles": 2}
    for extra, names in (
        ({"styles": list(STYLES)}, STYLES),
        ({"styles": ["ink"]}, ("style_1", "style_2")),  # names that do not fit: numbered
    ):
        torch.save({"state_dict": state, "hyper_parameters": {**hp, **extra}}, tmp_path / "pair.ckpt")
        net, info = load_checkpoint(tmp_path / "pair.ckpt")
        assert info.styles == names and net.config.num_styles == 2

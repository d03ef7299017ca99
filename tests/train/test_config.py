"""The YAML recipes read outside the LightningCLI, and objective settings that moved under
model.loss: one line that names the new place, from the flag or the file, never a traceback."""

import subprocess
import sys

import pytest
import yaml

from fst.errors import FstError
from fst.train.config import check_moved, check_moved_flags, flag_values, read_configs
from fst.train.precision import machine_precision
from tests.conftest import REPO, run_cli

MOVED = "model.style_weight is now model.loss.style_weight (the objective's settings moved under model.loss)"


def test_flag_values_takes_both_spellings():
    args = ["fit", "--config", "a.yaml", "--model.lr", "1", "--config=b.yaml", "--config"]
    assert flag_values(args, "--config") == ["a.yaml", "b.yaml"]  # a trailing flag has no value
    assert flag_values(args, "--ckpt_path") == []


def test_read_configs_merges_in_order_section_by_section(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("model:\n  lr: 0.1\n  loss: {style_weight: 5, tv_weight: 2}\ndata: {image_size: 64}\n")
    second.write_text("model:\n  loss: {style_weight: 9}\ntrainer: {max_steps: 3}\n")
    assert read_configs([first, second]) == {
        "model": {"lr": 0.1, "loss": {"style_weight": 9, "tv_weight": 2}},
        "data": {"image_size": 64},
        "trainer": {"max_steps": 3},
    }
    assert read_configs([REPO / "configs" / "johnson2016.yaml"])["model"]["loss"]["style_weight"] == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read the config file (No such file or directory)"),
        ("model: [unclosed", "not a YAML file ("),
        ("- a list", "a config file must be a YAML mapping"),
        ("model:\n  lr: 1\n  style_weight: 3\n", MOVED),
    ],
)
def test_read_configs_errors_are_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(FstError) as caught:
        read_configs([path])
    assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("key", ["content_weight", "style_size", "style_loss", "style_layers", "vgg_weights"])
def test_every_objective_setting_given_flat_names_its_new_place(key):
    with pytest.raises(FstError, match=rf"^--model\.{key} is now --model\.loss\.{key} "):
        check_moved_flags(["fit", f"--model.{key}", "1"])
    with pytest.raises(FstError, match=rf"^--model\.{key} is now --model\.loss\.{key} "):
        check_moved_flags(["fit", f"--model.{key}=1"])
    with pytest.raises(FstError, match=rf"^recipe: model\.{key} is now model\.loss\.{key} "):
        check_moved({key: 1}, "recipe")


def test_settings_in_their_place_pass():
    check_moved_flags(
        ["fit", "--model.loss.style_weight", "3", "--model.lr", "0.1", "--model.style_image", "s"]
    )
    check_moved({"loss": {"style_weight": 3}, "lr": 0.1, "style_image": "s"}, "recipe")


def one_line(result) -> str:
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def test_train_py_old_flag_is_one_line(tmp_path, photo_dir, style_image):
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        "--model.style_weight", "3", cwd=tmp_path,
    )  # fmt: skip
    assert one_line(result) == (
        "fst: error: --model.style_weight is now --model.loss.style_weight "
        "(the objective's settings moved under model.loss)"
    )
    assert not (tmp_path / "checkpoints").exists()


def test_train_py_recipe_with_the_old_layout_is_one_line(tmp_path, photo_dir, style_image):
    recipe = tmp_path / "old.yaml"
    recipe.write_text("model:\n  width: 8\n  style_weight: 3\n")
    result = run_cli(
        str(REPO / "train.py"), "fit", "--config", str(recipe), "--model.style_image", str(style_image),
        "--data.root", str(photo_dir), cwd=tmp_path,
    )  # fmt: skip
    assert one_line(result) == f"fst: error: {recipe}: {MOVED}"


def test_resuming_a_checkpoint_with_the_old_layout_is_one_line(tmp_path, photo_dir, style_image):
    import torch

    old = tmp_path / "old.ckpt"
    torch.save(
        {"hyper_parameters": {"style_image": str(style_image), "style_weight": 3.0}, "state_dict": {}}, old
    )
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(style_image), "--data.root", str(photo_dir),
        "--ckpt_path", str(old), cwd=tmp_path,
    )  # fmt: skip
    assert one_line(result) == (
        f"fst: error: {old}: written by an earlier fst (objective settings outside model.loss); "
        "resume it with that version, or start a new run"
    )


def test_the_cpu_recipe_resolves_with_the_machines_precision():
    """configs/cpu.yaml as train.py resolves it: a warm start from the shipped starry_night
    network, and no precision of its own, so the machine's default applies."""
    command = [sys.executable, "train.py", "fit", "--config", "configs/cpu.yaml", "--model.style_image",
               "painting.jpg", "--data.root", "photos", "--print_config"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["model"]["init_from"] == "starry_night"
    assert config["trainer"]["precision"] == machine_precision()

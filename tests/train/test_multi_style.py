"""Training one network for several paintings, and adding a painting to a trained one
(--from: only the new style's γ/β change), as a user runs it."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fst.infer.model_file import load_checkpoint, load_model_file
from fst.loss.objective import load_style_image, png_to_tensor
from tests.conftest import REPO, random_photo, run_cli
from tests.train.test_training import TINY


@pytest.fixture
def paintings(tmp_path):
    folder = tmp_path / "paintings"
    folder.mkdir()
    for seed, name in enumerate(["b_second", "a_first"]):
        random_photo(48, 40, seed=50 + seed).save(folder / f"{name}.png")
    random_photo(40, 48, seed=60).save(tmp_path / "c_new.png")
    return folder


def train_on_folder(tmp_path: Path, photo_dir: Path, paintings: Path, steps: int, *extra: str) -> Path:
    """train.py fit on every painting of ``paintings``; returns the model file."""
    result = run_cli(
        str(REPO / "train.py"), "fit", "--model.style_image", str(paintings), "--data.root", str(photo_dir),
        *TINY, "--trainer.max_steps", str(steps), *extra, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / "checkpoints" / "tiny" / "tiny.safetensors"


def test_a_folder_of_paintings_then_one_more_with_from(tmp_path, photo_dir, paintings):
    path = train_on_folder(tmp_path, photo_dir, paintings, steps=4)
    net, info = load_model_file(path)
    assert info.styles == ("a_first", "b_second") and net.config.num_styles == 2  # sorted by name
    assert [tuple(png_to_tensor(png, "t").shape) for png in info.style_images] == [(1, 3, 33, 40)] * 2
    assert torch.equal(
        png_to_tensor(info.style_images[1], "t"), load_style_image(paintings / "b_second.png", 40)
    )
    checkpoint_net, checkpoint_info = load_checkpoint(path.with_name("last.ckpt"))
    assert checkpoint_info.styles == info.styles and checkpoint_net.config == net.config
    net, info = load_model_file(train_on_folder(tmp_path, photo_dir, paintings, 6, "--ckpt_path", "last"))
    assert info.styles == ("a_first", "b_second") and info.training["steps"] == 6
    before = load_file(path)
    norms = [key for key, value in before.items() if value.ndim == 2 and value.shape[0] == 2]
    assert norms and all(key.endswith((".weight", ".bias")) for key in norms)

    saved = tmp_path / "two.safetensors"
    path.rename(saved)
    second = run_cli(
        "train", "--style", str(tmp_path / "c_new.png"), "--data", str(photo_dir), "--from", str(saved),
        *TINY, "--trainer.max_steps", "4", "--run_name", "three", cwd=tmp_path,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    grown, info = load_model_file(tmp_path / "checkpoints" / "three" / "three.safetensors")
    assert info.styles == ("a_first", "b_second", "c_new") and grown.config.num_styles == 3
    assert info.style_images[:2] == load_model_file(saved)[1].style_images
    after = load_file(tmp_path / "checkpoints" / "three" / "three.safetensors")
    assert after.keys() == before.keys()
    for key, old in before.items():
        if key in norms:  # the old styles' rows bit for bit, the new row trained away from their mean
            assert torch.equal(after[key][:2], old), key
        else:
            assert torch.equal(after[key], old), key
    moved = [key for key in norms if not torch.equal(after[key][2], before[key].mean(dim=0))]
    assert len(moved) == len(norms)


def test_from_a_file_without_style_images_or_a_missing_one_is_one_line(tmp_path, photo_dir, style_image):
    result = run_cli("train", "--style", str(style_image), "--data", str(photo_dir), "--from",
                     str(tmp_path / "missing.safetensors"), *TINY, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("fst: error: ")
    assert "missing.safetensors" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_scores_the_named_style_of_a_multi_style_network(tmp_path, photo_dir, paintings):
    model = train_on_folder(tmp_path, photo_dir, paintings, steps=2)
    reports = {}
    for name in ("a_first", "b_second"):
        report = tmp_path / f"{name}.json"
        result = run_cli("evaluate", str(model), "--content", str(photo_dir), "--style", name, "--iters", "1",
                         "--size", "32", "--limit", "1", "--json", str(report))  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        reports[name] = json.loads(report.read_text())["summary"]
    # Two styles of one network, each scored against its own painting: different distances.
    assert reports["a_first"]["style_distance_median"] != reports["b_second"]["style_distance_median"]
    # A checkpoint stores no paintings: the run's painting file of that style is read.
    report = tmp_path / "ckpt.json"
    checkpoint = str(model.with_name("last.ckpt"))
    result = run_cli("evaluate", checkpoint, "--content", str(photo_dir), "--style", "b_second",
                     "--iters", "1", "--size", "32", "--limit", "1", "--json", str(report))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(report.read_text())["summary"]
    assert summary["style_distance_median"] == pytest.approx(
        reports["b_second"]["style_distance_median"], rel=1e-4
    )
    unknown = run_cli("evaluate", str(model), "--content", str(photo_dir), "--style", "nope", "--iters", "1")
    assert unknown.returncode != 0
    assert unknown.stderr.strip().splitlines()[-1] == (
        "fst: error: --style: unknown style 'nope' (this model's styles: a_first, b_second)"
    )

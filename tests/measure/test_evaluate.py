"""fst evaluate: the network's objective vs L-BFGS iterations (Johnson et al. Fig. 5)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from fst.errors import FstError
from fst.infer.model_file import save_model_file
from fst.infer.runners import open_runner
from fst.loss.config import LossConfig
from fst.loss.objective import load_style_image, style_png
from fst.measure.evaluate import (
    curve_key,
    equivalent_iterations,
    evaluate_image,
    markdown_table,
    model_objective,
)
from fst.measure.optimize import measure
from fst.models.transformer import TransformerConfig, TransformerNet
from tests.conftest import random_photo, run_cli


@pytest.mark.parametrize(
    "target, expected",
    [(7.0, 1.5), (10.0, 0.0), (12.0, 0.0), (4.0, 3.0), (5.0, 2.5), (3.9, None)],
)
def test_equivalent_iterations_interpolates_the_curve(target, expected):
    curve = [10.0, 8.0, 6.0, 4.0]  # total at iterates 0..3
    assert equivalent_iterations(target, curve) == expected


def test_equivalent_iterations_takes_the_first_crossing():
    # L-BFGS without line search may go up again; the first time it reaches the target counts.
    assert equivalent_iterations(5.0, [9.0, 5.0, 7.0, 3.0]) == 1.0


@pytest.fixture
def model_file(tmp_path, style_image):
    """A tiny model file that stores its objective and its style image, as training writes it."""
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    objective = LossConfig(style_size=32, style_weight=5.0).to_dict()
    save_model_file(net, path, style="test", training={"steps": 1}, objective=objective,
                    style_images=[style_png(style_image, 32)])  # fmt: skip
    return path


def write_old_model_file(path, trained_on):
    """A format-1 file of an older fst: the objective settings among the training ones, no
    style image, only the path of the one it was trained on."""
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    training = {"style_size": 32, "style_weight": 5.0, "style_image": str(trained_on), "steps": 1}
    metadata = {"format": "fst-transformer", "arch": json.dumps(net.config.to_dict()), "style": "painting",
                "training": json.dumps(training)}  # fmt: skip
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=metadata)
    return path


def test_older_model_files_use_their_flat_settings_and_need_a_style(tmp_path, style_image):
    gone = write_old_model_file(tmp_path / "old.safetensors", tmp_path / "gone" / "painting.jpg")
    runner = open_runner(gone)
    assert runner.info.format_version == 1 and runner.info.style_images == ()
    with pytest.raises(FstError) as caught:
        model_objective(runner, origin=gone)
    assert str(caught.value) == (
        f"{gone}: the model file stores no style image (written by an older fst); pass --style"
    )
    given = model_objective(runner, style_image)
    assert given.config == LossConfig(style_size=32, style_weight=5.0)
    assert torch.equal(given.styles[0], load_style_image(style_image, 32))
    # Where the painting it was trained on is still there, that one is used.
    here = model_objective(open_runner(write_old_model_file(tmp_path / "here.safetensors", style_image)))
    assert here.fingerprint() == given.fingerprint()


def test_evaluate_image_measures_network_and_lbfgs(tmp_path, model_file, style_image):
    photo = tmp_path / "photo.png"
    random_photo(40, 30, seed=4).save(photo)
    runner = open_runner(model_file)
    objective = model_objective(runner)
    # The stored objective: the model's settings and its style image as trained on.
    assert objective.config == LossConfig(style_size=32, style_weight=5.0)
    assert torch.equal(objective.styles[0], load_style_image(style_image, 32))
    result = evaluate_image(runner, objective, photo, 32, checkpoints=(1, 3))
    content = load_style_image(photo, 32)
    with torch.no_grad():
        expected = measure(objective, runner.net(content), content)
    assert result.size == (32, 24)
    assert result.network == pytest.approx(expected, rel=1e-5)
    assert len(result.curve) == 4 and sorted(result.lbfgs) == [1, 3]
    assert result.lbfgs[3]["total"] == result.curve[3]
    assert result.curve[0] == pytest.approx(measure(objective, content, content)["total"], rel=1e-5)
    assert result.equivalent_iterations == equivalent_iterations(result.network["total"], result.curve)
    table = markdown_table([result])
    assert "| image | network | L-BFGS 1 | L-BFGS 3 | equivalent iterations |" in table
    assert "photo.png" in table


def test_cli_writes_table_and_json_and_counts_unreadable_photos(tmp_path, model_file, style_image):
    photos = tmp_path / "photos"
    photos.mkdir()
    random_photo(40, 40, seed=1).save(photos / "a.jpg")
    (photos / "b.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "eval.json"
    args = ["evaluate", str(model_file), "--style", str(style_image), "--content", str(photos)]
    result = run_cli(*args, "--size", "32", "--iters", "2", "4", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "| a.jpg |" in result.stdout and "skipped: " in result.stdout and "(1 skipped)" in result.stdout
    report = json.loads(out.read_text())
    assert report["skipped_images"] == 1 and report["summary"]["images"] == 1
    (image,) = report["images"]
    assert sorted(image["lbfgs"], key=int) == ["2", "4"] and len(image["curve"]) == 5


def test_cli_scores_against_the_stored_style_without_style_flag(tmp_path, model_file):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        random_photo(40, 30, seed=len(name) + ord(name[0])).save(photos / name)
    result = run_cli("evaluate", str(model_file), "--content", str(photos), "--limit", "1", "--iters", "5",
                     "--size", "32")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| a.jpg |" in result.stdout and "b.jpg" not in result.stdout
    assert "median equivalent L-BFGS iterations: " in result.stdout and "over 1 images" in result.stdout
    report = json.loads(model_file.with_name("tiny.safetensors.eval.json").read_text())
    assert report["style_image"] == "stored in tiny.safetensors" and report["summary"]["images"] == 1
    (image,) = report["images"]
    assert sorted(image["lbfgs"], key=int) == ["5"] and len(image["curve"]) == 6


def test_cli_older_model_file_without_style_is_one_line(tmp_path):
    old = write_old_model_file(tmp_path / "old.safetensors", tmp_path / "gone.jpg")
    photo = tmp_path / "photo.jpg"
    random_photo(32, 32, seed=1).save(photo)
    result = run_cli("evaluate", str(old), "--content", str(photo), "--size", "32", "--iters", "1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"fst: error: {old}: the model file stores no style image (written by an older fst); pass --style"
    ]


def test_cli_missing_style_is_one_line(tmp_path, model_file):
    photo = tmp_path / "photo.jpg"
    random_photo(32, 32, seed=1).save(photo)
    missing = tmp_path / "none.jpg"
    result = run_cli("evaluate", str(model_file), "--style", str(missing), "--content", str(photo))
    assert result.returncode == 1
    assert result.stderr.startswith("fst: error: ") and "none.jpg" in result.stderr
    assert "Traceback" not in result.stderr


def test_lbfgs_curves_are_cached_per_photo_style_and_settings(tmp_path, model_file, style_image, monkeypatch):
    photo = tmp_path / "photo.png"
    random_photo(40, 30, seed=5).save(photo)
    runner = open_runner(model_file)
    objective = model_objective(runner)
    cache = tmp_path / "curves"
    first = evaluate_image(runner, objective, photo, 32, checkpoints=(2,), cache=cache)
    assert len(list(cache.glob("*.json"))) == 1

    def no_lbfgs(*args, **kwargs):
        raise AssertionError("the cached curve must be reused")

    monkeypatch.setattr("fst.measure.evaluate.lbfgs_iterations", no_lbfgs)
    seen = []
    again = evaluate_image(runner, objective, photo, 32, (2,), 0, lambda i, t: seen.append((i, t)), cache)
    assert again.curve == first.curve and again.lbfgs == first.lbfgs
    assert seen == list(enumerate(first.curve))  # progress still reported, from the cache
    with pytest.raises(AssertionError, match="cached curve"):  # another seed is another objective
        evaluate_image(runner, objective, photo, 32, (2,), 1, None, cache)
    with pytest.raises(AssertionError, match="cached curve"):  # and another size other pixels
        evaluate_image(runner, objective, photo, 24, (2,), 0, None, cache)
    # Another painting is another objective; the stored style and the same painting given
    # as a file are one objective, so they share one curve.
    content = load_style_image(photo, 32)
    key = curve_key(objective, content, 3, 0)
    other_style = tmp_path / "other.png"
    random_photo(40, 40, seed=6).save(other_style)
    assert curve_key(model_objective(runner, other_style), content, 3, 0) != key
    assert curve_key(model_objective(runner, style_image), content, 3, 0) == key

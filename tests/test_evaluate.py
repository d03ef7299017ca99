"""fst evaluate: the network's objective vs L-BFGS iterations (Johnson et al. Fig. 5)."""

import json

import pytest
import torch

from fst.evaluate import equivalent_iterations, evaluate_image, markdown_table, objective_for
from fst.model_file import save_model_file
from fst.models.transformer import TransformerConfig, TransformerNet
from fst.module import load_style_image
from fst.optimize import measure
from fst.runners import open_runner
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
def model_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    save_model_file(net, path, style="test", training={"style_size": 32})
    return path


def test_evaluate_image_measures_network_and_lbfgs(tmp_path, model_file, style_image):
    photo = tmp_path / "photo.png"
    random_photo(40, 30, seed=4).save(photo)
    runner = open_runner(model_file)
    module = objective_for(runner, style_image)
    assert module.hparams.style_size == 32  # the model's training settings are used
    result = evaluate_image(runner, module, photo, 32, checkpoints=(1, 3))
    content = load_style_image(photo, 32)
    with torch.no_grad():
        expected = measure(module, runner.net(content), content)
    assert result.size == (32, 24)
    assert result.network == pytest.approx(expected, rel=1e-5)
    assert len(result.curve) == 4 and sorted(result.lbfgs) == [1, 3]
    assert result.lbfgs[3]["total"] == result.curve[3]
    assert result.curve[0] == pytest.approx(measure(module, content, content)["total"], rel=1e-5)
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
    module = objective_for(runner, style_image)
    cache = tmp_path / "curves"
    first = evaluate_image(runner, module, photo, 32, checkpoints=(2,), cache=cache)
    assert len(list(cache.glob("*.json"))) == 1

    def no_lbfgs(*args, **kwargs):
        raise AssertionError("the cached curve must be reused")

    monkeypatch.setattr("fst.evaluate.lbfgs_iterations", no_lbfgs)
    seen = []
    again = evaluate_image(runner, module, photo, 32, (2,), 0, lambda i, t: seen.append((i, t)), cache)
    assert again.curve == first.curve and again.lbfgs == first.lbfgs
    assert seen == list(enumerate(first.curve))  # progress still reported, from the cache
    with pytest.raises(AssertionError, match="cached curve"):  # another seed is another objective
        evaluate_image(runner, module, photo, 32, (2,), 1, None, cache)
    with pytest.raises(AssertionError, match="cached curve"):  # and another size other pixels
        evaluate_image(runner, module, photo, 24, (2,), 0, None, cache)

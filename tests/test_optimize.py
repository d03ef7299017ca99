"""fst optimize: L-BFGS on the pixels against exactly the training objective."""

import pytest
import torch
from PIL import Image

from fst.errors import FstError
from fst.losses import total_variation
from fst.module import StyleTransferModule
from fst.optimize import PixelImage, lbfgs_iterations, measure, objective_module, start_image
from tests.conftest import random_photo, run_cli


@pytest.fixture(scope="module")
def module(tmp_path_factory) -> StyleTransferModule:
    path = tmp_path_factory.mktemp("style") / "style.png"
    random_photo(40, 32, seed=7).save(path)
    return objective_module(path, {"style_size": 32, "steps": 123, "image_size": 256})


def content_image(seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.rand(1, 3, 24, 32)


def test_measure_is_the_training_objective_of_the_image(module):
    content = content_image()
    terms = measure(module, content, content)
    assert terms["content"] == 0.0  # the content image reproduces its own features exactly
    assert terms["tv"] == pytest.approx(float(total_variation(content)))
    hp = module.hparams
    expected = (
        hp.content_weight * terms["content"] + hp.style_weight * terms["style"] + hp.tv_weight * terms["tv"]
    )
    assert terms["total"] == pytest.approx(expected, rel=1e-6)
    # A network that outputs the image directly gives the same numbers through losses().
    module.net = PixelImage(content, trainable=False)
    with torch.no_grad():
        assert float(module.losses(content)["total"]) == pytest.approx(terms["total"], rel=1e-6)


def test_lbfgs_lowers_the_objective_and_reports_each_iterate(module):
    content = content_image()
    start = start_image(content, "noise", seed=3)
    first_measure = measure(module, start, content)
    steps = lbfgs_iterations(module, content, start)
    history = [next(steps)["total"] for _ in range(15)]
    assert history[0] == pytest.approx(first_measure["total"], rel=1e-5)  # iterate 0 = the start
    final = measure(module, module.net.image.detach(), content)
    assert final["total"] < 0.5 * history[0]
    assert history[-1] < history[0]


def test_start_images():
    content = content_image()
    assert torch.equal(start_image(content, "content"), content)
    noise = start_image(content, "noise", seed=5)
    assert noise.shape == content.shape and noise.min() >= 0 and noise.max() <= 1
    assert torch.equal(noise, start_image(content, "noise", seed=5))
    assert not torch.equal(noise, start_image(content, "noise", seed=6))
    with pytest.raises(FstError, match="unknown --init"):
        start_image(content, "blank")


def test_settings_not_of_the_objective_are_ignored(module):
    assert module.hparams.style_size == 32 and "steps" not in module.hparams


def test_cli_writes_the_stylized_image(tmp_path, style_image):
    photo = tmp_path / "photo.jpg"
    random_photo(48, 36, seed=2).save(photo)
    out = tmp_path / "out.png"
    result = run_cli(
        "optimize", str(photo), str(style_image), "-o", str(out), "--iters", "3", "--size", "40",
        "--style-size", "32", "--init", "noise",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "L-BFGS" in result.stderr and "3/3" in result.stderr
    assert f"wrote {out} (40x30)" in result.stdout
    with Image.open(out) as img:
        assert img.size == (40, 30) and img.mode == "RGB"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


@pytest.mark.parametrize(
    "args, message",
    [
        (["{photo}", "{style}", "-o", "{tmp}/out.xyz"], "unknown image format '.xyz'"),
        (["{tmp}/nope.jpg", "{style}", "-o", "{tmp}/out.png"], "nope.jpg"),
        (["{photo}", "{style}", "-o", "{tmp}/out.png", "--init", "blank"], "unknown --init 'blank'"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, style_image, args, message):
    photo = tmp_path / "photo.jpg"
    random_photo(32, 32, seed=2).save(photo)
    filled = [a.format(photo=photo, style=style_image, tmp=tmp_path) for a in args]
    result = run_cli("optimize", "--size", "32", "--style-size", "32", "--iters", "1", *filled)
    assert result.returncode == 1
    assert result.stderr.startswith("fst: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()

"""fst optimize: L-BFGS on the pixels against exactly the training objective."""

import argparse

import pytest
import torch
from PIL import Image

from fst.commands import optimize as command
from fst.errors import FstError
from fst.infer.model_file import save_model_file
from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss, load_style_image, style_png
from fst.loss.terms import total_variation
from fst.measure.optimize import lbfgs_iterations, measure, start_image
from fst.models.transformer import TransformerConfig, TransformerNet
from fst.train.module import StyleTransferModule
from tests.conftest import REPO, random_photo, run_cli

JOHNSON2016 = str(REPO / "configs" / "johnson2016.yaml")


@pytest.fixture(scope="module")
def style_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("style") / "style.png"
    random_photo(40, 32, seed=7).save(path)
    return path


@pytest.fixture(scope="module")
def objective(style_path) -> PerceptualLoss:
    config = LossConfig(style_size=32, content_weight=2.0, style_weight=5.0, tv_weight=0.5)
    return PerceptualLoss.from_files(config, [style_path])


def content_image(seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.rand(1, 3, 24, 32)


class Constant(torch.nn.Module):
    """A "network" that outputs one fixed image."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.image = image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.image


def test_measure_is_the_training_objective_of_the_image(objective, style_path):
    content = content_image()
    terms = measure(objective, content, content)
    assert terms["content"] == 0.0  # the content image reproduces its own features exactly
    assert terms["tv"] == pytest.approx(float(total_variation(content)))
    expected = 2.0 * terms["content"] + 5.0 * terms["style"] + 0.5 * terms["tv"]
    assert terms["total"] == pytest.approx(expected, rel=1e-6)
    # Training scores a network whose output is this image with the very same numbers.
    module = StyleTransferModule(str(style_path), objective.config, width=8, num_res_blocks=1)
    module.net = Constant(content)
    with torch.no_grad():
        assert {k: float(v) for k, v in module.losses(content).items()} == pytest.approx(terms, rel=1e-6)


def test_lbfgs_lowers_the_objective_and_reports_each_iterate(objective):
    content = content_image()
    image = start_image(content, "noise", seed=3)
    first_measure = measure(objective, image, content)
    steps = lbfgs_iterations(objective, content, image)
    history = [next(steps)["total"] for _ in range(15)]
    assert history[0] == pytest.approx(first_measure["total"], rel=1e-5)  # iterate 0 = the start
    final = measure(objective, image.detach(), content)  # optimised in place
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


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(["photo.jpg", "-o", "out.png", *args])


def test_objective_from_a_recipe_with_flags_over_it(tmp_path, style_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"model:\n  style_image: {style_path}\n  width: 8\n"
        "  loss: {content_weight: 2.0, style_weight: 10.0, tv_weight: 0.5, style_size: 24, "
        "style_layers: [relu1_2, relu2_2]}\n"
    )
    built = command.build_objective(parse("--config", str(recipe), "--style-weight", "7"), "cpu")
    expected = LossConfig(content_weight=2.0, style_weight=7.0, tv_weight=0.5, style_size=24,
                          style_layers=["relu1_2", "relu2_2"])  # fmt: skip
    assert built.config == expected  # the recipe's settings, the flag over them
    assert torch.equal(built.styles[0], load_style_image(style_path, 24))  # the recipe's model.style_image


@pytest.fixture(scope="module")
def stored_model(tmp_path_factory, style_path):
    """A tiny model file that stores its objective and its style image (format 2)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    objective = LossConfig(style_size=24, style_weight=6.0, style_loss="bn").to_dict()
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    save_model_file(net, path, style="painting", training={}, objective=objective,
                    style_images=[style_png(style_path, 24)])  # fmt: skip
    return path


def test_objective_like_a_model_uses_its_stored_settings_and_style(stored_model, style_path, tmp_path):
    like = command.build_objective(parse("--like", str(stored_model)), "cpu")
    assert like.config == LossConfig(style_size=24, style_weight=6.0, style_loss="bn")
    assert like.names == ["painting"]
    assert torch.equal(like.styles[0], load_style_image(style_path, 24))
    # A flag overrides one setting; another style image replaces the stored one.
    other = tmp_path / "other.png"
    random_photo(30, 30, seed=8).save(other)
    changed = command.build_objective(
        parse("--like", str(stored_model), "--tv-weight", "3", "--style", str(other)), "cpu"
    )
    assert changed.config == LossConfig(style_size=24, style_weight=6.0, style_loss="bn", tv_weight=3.0)
    assert torch.equal(changed.styles[0], load_style_image(other, 24))


def run_optimize(*args: str):
    return run_cli("optimize", *args, "--iters", "2", "--size", "32")


def objective_line(result) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1].split("; objective: ")[1]


def test_cli_with_a_training_recipe_is_the_same_as_its_settings_as_flags(tmp_path, style_path):
    photo = tmp_path / "photo.jpg"
    random_photo(48, 36, seed=2).save(photo)
    recipe, flags = tmp_path / "recipe.png", tmp_path / "flags.png"
    from_recipe = run_optimize(str(photo), "--config", JOHNSON2016, "--style", str(style_path),
                               "-o", str(recipe), "--style-size", "32")  # fmt: skip
    assert f"wrote {recipe} (32x24)" in from_recipe.stdout, from_recipe.stderr[-3000:]
    with Image.open(recipe) as img:
        assert img.size == (32, 24) and img.format == "PNG"
    # configs/johnson2016.yaml's model.loss, spelled as flags.
    settings = ["--content-weight", "1", "--style-weight", "3", "--tv-weight", "1", "--style-loss", "gram",
                "--vgg-weights", "caffe", "--style-size", "32"]  # fmt: skip
    from_flags = run_optimize(str(photo), str(style_path), "-o", str(flags), *settings)
    assert objective_line(from_flags) == objective_line(from_recipe)
    assert flags.read_bytes() == recipe.read_bytes()


def test_cli_like_a_model_needs_no_style(tmp_path, stored_model):
    photo = tmp_path / "photo.jpg"
    random_photo(40, 40, seed=3).save(photo)
    out = tmp_path / "out.png"
    result = run_optimize(str(photo), "--like", str(stored_model), "-o", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out} (32x32)" in result.stdout
    with Image.open(out) as img:
        assert img.size == (32, 32)


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
        (["{photo}", "{style}", "--style", "{style}", "-o", "{tmp}/out.png"],
         "give the style image once: as STYLE or as --style"),
        (["{photo}", "--config", JOHNSON2016, "--like", "{model}", "-o", "{tmp}/out.png"],
         "--config and --like both set the objective; choose one"),
        (["{photo}", "-o", "{tmp}/out.png"], "no style image: pass STYLE, --style, --like MODEL or a "),
        (["{photo}", "--config", JOHNSON2016, "-o", "{tmp}/out.png"], "no style image: "),
    ],
    ids=["format", "missing photo", "init", "style twice", "config and like", "no style", "recipe without"],
)  # fmt: skip
def test_cli_errors_are_one_line(tmp_path, style_image, stored_model, args, message):
    photo = tmp_path / "photo.jpg"
    random_photo(32, 32, seed=2).save(photo)
    filled = [a.format(photo=photo, style=style_image, tmp=tmp_path, model=stored_model) for a in args]
    result = run_cli("optimize", "--size", "32", "--style-size", "32", "--iters", "1", *filled)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fst: error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out.png").exists()

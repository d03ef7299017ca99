"""LossConfig: the objective's settings as one typed, checked, storable object."""

import json
import subprocess
import sys

import pytest

from fst.errors import FstError
from fst.loss.config import LossConfig, loss_keys


def test_to_dict_and_from_dict_round_trip_through_json():
    config = LossConfig(
        content_weight=2.0,
        style_weight=10,
        tv_weight=0.0,
        style_loss={"gram": 0.5, "poly": {"weight": 0.5, "c": 0, "d": 3}},
        style_size=None,
        content_layer="relu3_3",
        style_layers=["relu1_2", "relu3_3"],
        style_layer_weights=[1.0, 0.25],
        vgg_weights="torchvision",
    )
    stored = json.loads(json.dumps(config.to_dict()))  # as model files keep it
    assert LossConfig.from_dict(stored) == config
    assert sorted(stored) == sorted(loss_keys())
    assert config.layer_weights == {"relu1_2": 1.0, "relu3_3": 0.25}
    assert LossConfig().layer_weights == {"relu1_2": 1.0, "relu2_2": 1.0, "relu3_3": 1.0, "relu4_3": 1.0}


def test_flat_settings_of_older_files_give_only_the_objective():
    """Checkpoints and format-1 files of older versions keep the settings flat among the
    training ones; fst.infer.metadata.objective_from picks the LossConfig ones."""
    from fst.infer.metadata import objective_from

    flat = {"style_size": 32, "style_weight": 7.0, "steps": 123, "image_size": 256, "lr": 0.1}
    assert LossConfig.from_dict(objective_from(flat)) == LossConfig(style_size=32, style_weight=7.0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"style_layers": ["relu1_2", "relu9_9"]},
            "unknown VGG-16 layers ['relu9_9']; choose from relu1_1, ",
        ),
        ({"content_layer": "conv2_2"}, "unknown VGG-16 layers ['conv2_2']; choose from "),
        ({"style_layers": []}, "style_layers must name at least one VGG-16 layer"),
        ({"style_layer_weights": [1, 2, 3]}, "style_layer_weights needs one weight per style layer"),
        ({"style_loss": "wasserstein"}, "style_loss 'wasserstein' is neither a loss name"),
        ({"style_loss": {"gram": -1}}, "style loss gram: weight must be a positive number, got -1"),
        ({"style_size": 0}, "style_size must be a positive number of pixels, got 0"),
        ({"style_weight": "lots"}, "style_weight must be a number, got 'lots'"),
        ({"style_layer_weights": [1, 1, "x", 1]}, "style_layer_weights must be numbers, got 'x'"),
        ({"content_layer": ["x"] * 1000}, "content_layer must be a VGG-16 layer name, got ['x', 'x', "),
        ({"vgg_weights": None}, "vgg_weights must be caffe, torchvision or a weights file, got None"),
    ],
)
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(FstError) as caught:
        LossConfig(**settings)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 200


def test_from_dict_names_the_origin_and_unknown_keys():
    with pytest.raises(FstError) as caught:
        LossConfig.from_dict({"style_weight": 2, "style_wieght": 3}, "model.safetensors")
    message = str(caught.value)
    assert message.startswith("model.safetensors: unknown loss settings ['style_wieght']; known: ")
    assert "style_weight" in message.split("known: ")[1] and "\n" not in message
    # Settings read from files are checked by type too, with the file named.
    with pytest.raises(
        FstError, match=r"^model.safetensors: style_layers must be a list of VGG-16 layer names"
    ):
        LossConfig.from_dict({"style_layers": 5}, "model.safetensors")
    with pytest.raises(
        FstError, match=r"^loss settings: style_size must be a whole number of pixels, got '32'"
    ):
        LossConfig.from_dict({"style_size": "32"})


def test_importing_the_config_loads_no_torch():
    code = "import sys, fst.loss.config, fst.train.config; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

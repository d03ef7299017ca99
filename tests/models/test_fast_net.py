"""The fast network variant: same contract as TransformerNet, rebuilt from its arch on load,
exported by the same exporter."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fst.infer.export import export_onnx
from fst.infer.model_file import load_model_file, save_model_file
from fst.infer.runners import open_runner
from fst.models import build_transformer
from fst.models.fast import FastTransformerNet
from fst.models.transformer import TransformerConfig, TransformerNet


def small_fast_net(seed: int = 0) -> FastTransformerNet:
    torch.manual_seed(seed)
    return build_transformer(TransformerConfig(arch="fast", width=8, num_res_blocks=1)).eval()


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 37, 53), (1, 3, 9, 101), (1, 3, 64, 40)])
def test_output_has_the_input_shape_and_range(shape):
    out = small_fast_net()(torch.rand(shape))
    assert out.shape == shape
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def test_config_defaults_and_factory():
    assert TransformerConfig().width == 32 and TransformerConfig(arch="fast").width == 16
    assert TransformerConfig(arch="fast", width=24).width == 24
    assert type(build_transformer(TransformerConfig())) is TransformerNet
    assert type(build_transformer(TransformerConfig(arch="fast"))) is FastTransformerNet
    with pytest.raises(ValueError, match="unknown arch 'tiny'"):
        TransformerConfig(arch="tiny")


def test_default_fast_net_parameter_count():
    # c5s1-16, d32, d64, 5 x separable residual blocks at 64 channels, u32, u16, c5s1-3.
    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    def norm(c):
        return 2 * c

    separable = 64 * 9 + conv(64, 64, 1) + norm(64)
    expected = conv(3, 16, 5) + norm(16) + conv(16, 32, 3) + norm(32) + conv(32, 64, 3) + norm(64)
    expected += 5 * 2 * separable
    expected += conv(64, 32, 3) + norm(32) + conv(32, 16, 3) + norm(16) + conv(16, 3, 5)
    net = build_transformer(TransformerConfig(arch="fast"))
    assert sum(p.numel() for p in net.parameters()) == expected


def test_stylizes_at_half_resolution():
    # Average-pooled on entry: an input whose 2x2 blocks have equal means gives the same output
    # (the network itself: the border margin would reflect across the 2x2 blocks).
    net = small_fast_net().stylize
    x = torch.rand(1, 3, 32, 32)
    swapped = x.clone()
    swapped[..., 0::2, :], swapped[..., 1::2, :] = x[..., 1::2, :], x[..., 0::2, :]
    assert torch.allclose(net(x), net(swapped), atol=1e-6)


def test_model_file_round_trip_rebuilds_the_fast_class(tmp_path):
    net = small_fast_net(seed=3)
    path = tmp_path / "fast.safetensors"
    save_model_file(net, path, style="test", training={})
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["arch"]) == {"width": 8, "num_res_blocks": 1, "arch": "fast"}
    loaded, info = load_model_file(path)
    assert type(loaded) is FastTransformerNet and info.family == "fast"
    x = torch.rand(1, 3, 40, 48)
    assert torch.equal(loaded(x), net(x))


def test_model_file_without_arch_key_loads_as_johnson(tmp_path):
    # Files written before the arch field existed store only width and num_res_blocks.
    torch.manual_seed(0)
    net = TransformerNet(TransformerConfig(width=8, num_res_blocks=1))
    path = tmp_path / "old.safetensors"
    save_model_file(net, path, style="old", training={})
    with safe_open(str(path), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["arch"] = json.dumps({"width": 8, "num_res_blocks": 1})
    save_file(tensors, str(path), metadata=meta)
    loaded, _ = load_model_file(path)
    assert type(loaded) is TransformerNet


def test_exported_fast_net_matches_pytorch_at_other_sizes(tmp_path):
    net = small_fast_net(seed=1)
    save_model_file(net, tmp_path / "fast.safetensors", style="test", training={})
    report = export_onnx(tmp_path / "fast.safetensors", tmp_path / "fast.onnx")
    assert report.max_abs_diff < 1e-3
    runner = open_runner(tmp_path / "fast.onnx")
    assert runner.info.family == "fast"
    for shape in [(1, 3, 8, 8), (2, 3, 50, 77)]:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = net(torch.from_numpy(x)).numpy()
        assert np.abs(runner(x) - expected).max() < 1e-4

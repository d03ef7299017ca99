"""fst.measure.bench runs and reports (no timed assertions: only that it measures what it says)."""

import torch
from torch import nn

from fst.loss.config import LossConfig
from fst.measure.bench import (
    flops_per_pixel,
    inference_report,
    inference_table,
    machine,
    time_interleaved,
    training_benchmark,
)
from fst.models.transformer import TransformerConfig, TransformerNet
from fst.train.module import StyleTransferModule
from tests.conftest import random_photo


def test_time_interleaved_runs_warmup_then_rounds_in_turn():
    order = []
    timings = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=2)
    assert order == ["a", "b", "a", "b", "a", "b"]  # one warm-up each, then two rounds
    assert all(len(t.wall) == 2 and len(t.cpu) == 2 and t.median >= 0 for t in timings.values())


def test_flops_per_pixel_counts_convolutions():
    assert flops_per_pixel(nn.Conv2d(3, 4, 3, padding=1), 16, 16) == 2 * 3 * 4 * 9
    # Johnson et al.'s network: c9s1-32, d64, d128, 10 convs at 128 ch, u64, u32, c9s1-3.
    per_pixel = 81 * 3 * 32 + (9 * 32 * 64) / 4 + (9 * 64 * 128) / 16 + 10 * (9 * 128 * 128) / 16
    per_pixel += (9 * 128 * 64) / 4 + 9 * 64 * 32 + 81 * 32 * 3
    assert flops_per_pixel(TransformerNet(), 64, 64) == 2 * per_pixel == 307_584


def test_training_benchmark_times_every_variant_and_extra(tmp_path):
    style = tmp_path / "style.png"
    random_photo(32, 32, seed=3).save(style)
    module = StyleTransferModule(str(style), LossConfig(style_size=32), width=8, num_res_blocks=1)
    before = [p.clone() for p in module.net.parameters()]
    variants = ("fp32", "bf16 + channels_last")
    timings = training_benchmark(module, torch.rand(2, 3, 32, 32), 1, variants, extra={"noop": lambda: None})
    assert list(timings) == ["fp32", "bf16 + channels_last", "noop"]
    assert all(len(t.wall) == 1 for t in timings.values())
    # Every variant trains its own copy: the module itself is untouched.
    assert all(torch.equal(a, b) for a, b in zip(before, module.net.parameters(), strict=True))


def test_inference_report_and_table(tmp_path):
    configs = {"tiny": TransformerConfig(width=8, num_res_blocks=1, arch="fast")}
    report = inference_report(configs, [(40, 32), (24, 16)], repeats=1, folder=tmp_path)
    assert (tmp_path / "tiny.onnx").is_file()
    runtimes = {"torch eager", "torch channels_last", "onnxruntime", "onnxruntime, 1 thread"}
    expected = {(size, runtime) for size in ("40x32", "24x16") for runtime in runtimes}
    assert {(r["size"], r["runtime"]) for r in report["rows"]} == expected
    assert all(r["arch"] == "tiny" and r["fps"] > 0 and r["gflop_per_second"] > 0 for r in report["rows"])
    table = inference_table(report)
    assert table.count("\n| tiny") == 8 and "| onnxruntime, 1 thread |" in table


def test_machine_description():
    info = machine()
    assert info["cores_available"] >= 1 and info["torch"] == torch.__version__
    assert info["gpu"] is None or isinstance(info["gpu"], str)

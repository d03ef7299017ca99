"""Speed measurements behind ``fst bench`` and benchmarks/: training steps and inference.

Timings are interleaved (each round runs every variant once, in turn) and summarised
by their median, so a machine that gets busier during the run slows all variants alike
and the *ratios* stay meaningful even when absolute numbers are noisy.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fst import ASSETS
from fst.imageio import list_images, load_rgb
from fst.infer.model_file import save_model_file
from fst.infer.runners import open_runner
from fst.loss.config import LossConfig
from fst.models import build_transformer
from fst.models.transformer import TransformerConfig
from fst.train.data import resize_and_crop
from fst.train.module import StyleTransferModule


@dataclass
class Timing:
    """Seconds per call of one variant: wall clock, and CPU time of this process (all
    threads). On a shared, oversubscribed machine wall time mostly measures the other
    tenants; CPU time still measures the work done (spin-waiting threads inflate it a little).
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def time_interleaved(
    calls: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Timing]:
    """Run every call ``warmup`` times, then ``repeats`` rounds of each in turn."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    timings = {name: Timing() for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].wall.append(time.perf_counter() - wall)
    return timings


def machine() -> dict:
    """What the numbers were measured on: CPU, cores, load, GPU and library versions."""
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


@contextmanager
def autocast_bf16(enabled: bool, device: torch.device) -> Iterator[None]:
    """bfloat16 autocast on ``device`` when ``enabled`` (what Lightning's bf16-mixed does)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled):
        yield


def training_step(
    module: StyleTransferModule, batch: torch.Tensor, channels_last: bool = False, bf16: bool = False
) -> Callable[[], torch.Tensor]:
    """One Adam step of ``module.net`` on ``batch`` per call, as Lightning's loop does it
    (zero grad, StyleTransferModule.losses, backward, step); returns the detached loss.

    ``channels_last`` converts the module and batch in place (pass a copy).
    """
    if channels_last:
        module.to(memory_format=torch.channels_last)
        batch = batch.contiguous(memory_format=torch.channels_last)
    optimizer = module.optimizer()

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast_bf16(bf16, batch.device):
            loss = module.losses(batch)["total"]
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


TRAINING_VARIANTS = {
    "fp32": {},
    "channels_last": {"channels_last": True},
    "bf16 autocast": {"bf16": True},
    "bf16 + channels_last": {"bf16": True, "channels_last": True},
}


def training_benchmark(
    module: StyleTransferModule,
    batch: torch.Tensor,
    repeats: int,
    variants: Sequence[str] = tuple(TRAINING_VARIANTS),
    extra: Mapping[str, Callable[[], object]] | None = None,
) -> dict[str, Timing]:
    """Seconds per step of the real step in each variant (each on its own copy of ``module``),
    plus ``extra`` steps (e.g. the naive reference) timed in the same rounds."""
    calls = {
        name: training_step(copy.deepcopy(module), batch, **TRAINING_VARIANTS[name]) for name in variants
    }
    calls.update(extra or {})
    return time_interleaved(calls, repeats)


def flops_per_pixel(net: nn.Module, height: int = 256, width: int = 256) -> float:
    """Floating-point operations (multiply and add counted apart) per output pixel of
    ``net`` on a (1, 3, height, width) input (a stylisation network without its inference
    border margin); convolutions and matrix products only."""
    forward = getattr(net, "stylize", net)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        forward(torch.rand(1, 3, height, width))
    return counter.get_total_flops() / (height * width)


REFERENCE_STEP = Path(__file__).resolve().parents[2] / "benchmarks" / "naive_step.py"


def photo_batch(size: int, batch: int) -> torch.Tensor:
    """(batch, 3, size, size) centre crops of the bundled photos, repeated if needed."""
    photos = list_images(ASSETS / "photos")
    return torch.stack([resize_and_crop(load_rgb(photos[i % len(photos)]), size, None) for i in range(batch)])


def bundled_module(arch: str = "johnson", style_size: int = 512) -> StyleTransferModule:
    """The training module on the bundled painting with default settings, seeded net."""
    torch.manual_seed(0)
    return StyleTransferModule(str(ASSETS / "starry_night.jpg"), LossConfig(style_size=style_size), arch=arch)


def naive_reference(module: StyleTransferModule, batch: torch.Tensor) -> Callable[[], float] | None:
    """The textbook step of benchmarks/naive_step.py on a copy of ``module.net``, or None
    outside a source checkout (the benchmarks folder is not installed with the package)."""
    if not REFERENCE_STEP.is_file():
        return None
    spec = importlib.util.spec_from_file_location("naive_step", REFERENCE_STEP)
    naive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(naive)
    net = copy.deepcopy(module.net)
    optimizer = torch.optim.Adam(net.parameters(), lr=module.hparams.lr)
    args = reference_arguments(module)
    return lambda: naive.naive_step(net, x=batch, optimizer=optimizer, **args)


def reference_arguments(module: StyleTransferModule) -> dict:
    """The naive step's vgg, style, hp and layer_weights for ``module``'s objective."""
    objective = module.loss
    hp = objective.config.to_dict()
    return {
        "vgg": objective.vgg,
        "style": objective.styles[0],
        "hp": hp,
        "layer_weights": objective.config.layer_weights,
    }


def training_report(size: int, batch_size: int, repeats: int, variants: Sequence[str]) -> dict:
    """Images/s of the real training step (each variant) and of the naive reference, full
    Johnson net at default settings, timed in the same interleaved rounds."""
    module = bundled_module()
    batch = photo_batch(size, batch_size)
    reference = naive_reference(module, batch)
    agreement = None
    if reference is not None:  # same start, same batch: the first losses must agree
        ours = float(training_step(copy.deepcopy(module), batch)())
        agreement = abs(reference() - ours) / abs(ours)
        reference = naive_reference(module, batch)  # fresh copy for the timed runs
    extra = {"naive reference (fp32)": reference} if reference is not None else {}
    timings = training_benchmark(module, batch, repeats, variants, extra)
    baseline = next((name for name in timings if name.startswith("naive")), next(iter(timings)))
    base = timings[baseline]
    rows = [
        {
            "variant": name,
            "seconds_per_step": t.median,
            "images_per_second": batch_size / t.median,
            "speedup": base.median / t.median,
            "cpu_seconds_per_step": t.cpu_median,
            "cpu_speedup": base.cpu_median / t.cpu_median,
            "all_wall_seconds": t.wall,
            "all_cpu_seconds": t.cpu,
        }
        for name, t in timings.items()
    ]
    return {
        "size": size,
        "batch": batch_size,
        "repeats": repeats,
        "baseline": baseline,
        "loss_relative_difference": agreement,
        "rows": rows,
    }


def inference_calls(net: nn.Module, onnx_path: Path, batch: np.ndarray) -> dict[str, Callable[[], object]]:
    """One forward pass per call in each runtime setting compared by the benchmark."""
    import onnxruntime as ort

    eager = open_runner(onnx_path.with_suffix(".safetensors"), "torch", "cpu")
    channels_last = copy.deepcopy(net).eval().to(memory_format=torch.channels_last)
    x_last = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)

    def torch_channels_last() -> None:
        with torch.inference_mode():
            channels_last(x_last)

    # A bare session with one intra-op thread: per-core throughput (open_runner uses all cores).
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    one_thread = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {one_thread.get_inputs()[0].name: batch}
    onnxruntime = open_runner(onnx_path, "onnxruntime", "cpu")
    return {
        "torch eager": lambda: eager(batch),
        "torch channels_last": torch_channels_last,
        "onnxruntime": lambda: onnxruntime(batch),
        "onnxruntime, 1 thread": lambda: one_thread.run(None, feed),
    }


def inference_report(
    configs: Mapping[str, TransformerConfig], sizes: Sequence[tuple[int, int]], repeats: int, folder: Path
) -> dict:
    """Frames/s and GFLOP/s of each named network (random weights: speed does not depend
    on them) at each (width, height), in every setting of inference_calls; model files
    are written to ``folder``."""
    from fst.infer.export import export_onnx

    rows = []
    for arch, config in configs.items():
        torch.manual_seed(0)
        net = build_transformer(config).eval()
        save_model_file(net, folder / f"{arch}.safetensors", style="random", training={})
        export_onnx(folder / f"{arch}.safetensors", folder / f"{arch}.onnx")
        flops = flops_per_pixel(net)
        for width, height in sizes:
            batch = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
            timings = time_interleaved(inference_calls(net, folder / f"{arch}.onnx", batch), repeats)
            for runtime, t in timings.items():
                rows.append({
                    "arch": arch, "size": f"{width}x{height}", "runtime": runtime, "ms": 1000 * t.median,
                    "fps": 1 / t.median, "gflop_per_second": flops * width * height / t.median / 1e9,
                    "cpu_ms": 1000 * t.cpu_median, "kflop_per_pixel": flops / 1e3,
                    "all_wall_seconds": t.wall, "all_cpu_seconds": t.cpu,
                })  # fmt: skip
    return {"repeats": repeats, "rows": rows}


def machine_line(m: dict) -> str:
    """One sentence describing the machine of ``machine()``."""
    return (
        f"Machine: {m['cpu']}, {m['cores_available']} cores available, GPU: {m['gpu'] or 'none'}; "
        f"load average {m['load_average_1min']:.1f} at the start; Python {m['python']}, "
        f"torch {m['torch']}, onnxruntime {m['onnxruntime']}."
    )


def training_table(training: dict) -> str:
    """training_report as markdown: one row per variant, then what the speed-up is against."""
    lines = [
        f"Training step, Johnson net, {training['size']}x{training['size']}, batch {training['batch']}, "
        f"median of {training['repeats']} interleaved repetitions:",
        "",
        "| variant | s/step (wall) | images/s (wall) | speed-up (wall) | CPU s/step | speed-up (CPU time) |",
        "|---|---|---|---|---|---|",
    ]
    for r in training["rows"]:
        wall = f"{r['seconds_per_step']:.2f} | {r['images_per_second']:.2f} | {r['speedup']:.2f}x"
        lines.append(
            f"| {r['variant']} | {wall} | {r['cpu_seconds_per_step']:.2f} | {r['cpu_speedup']:.2f}x |"
        )
    lines.append(f"\nSpeed-up relative to: {training['baseline']}.")
    if training["loss_relative_difference"] is not None:
        difference = training["loss_relative_difference"]
        lines.append(
            f"The naive step's first loss differs from the real step's by {difference:.1e} (relative)."
        )
    return "\n".join(lines)


def inference_table(inference: dict) -> str:
    """inference_report as markdown: one row per arch, size and runtime."""
    lines = [
        f"Inference, batch 1, median of {inference['repeats']} interleaved repetitions:",
        "",
        "| arch | size | runtime | ms (wall) | frames/s | GFLOP/s | CPU ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in inference["rows"]:
        arch = f"{r['arch']} ({r['kflop_per_pixel']:.0f} kFLOP/px)"
        numbers = f"{r['ms']:.1f} | {r['fps']:.2f} | {r['gflop_per_second']:.1f} | {r['cpu_ms']:.0f}"
        lines.append(f"| {arch} | {r['size']} | {r['runtime']} | {numbers} |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The results of run_benchmarks as markdown: the machine, then one table per benchmark."""
    parts = [
        machine_line(results["machine"]),
        training_table(results["training"]),
        inference_table(results["inference"]),
    ]
    return "\n\n".join(parts) + "\n"


NETWORKS = {"johnson": TransformerConfig(arch="johnson"), "fast": TransformerConfig(arch="fast")}
QUICK = {"size": 128, "batch": 2, "repeats": 2, "variants": ("fp32", "bf16 autocast"), "sizes": ((640, 480),)}
FULL = {
    "size": 256,
    "batch": 4,
    "repeats": 3,
    "variants": tuple(TRAINING_VARIANTS),
    "sizes": ((256, 256), (512, 512), (640, 480), (1920, 1080)),
}


def run_benchmarks(quick: bool, folder: Path) -> dict:
    """The training and inference benchmarks (QUICK or FULL settings) -> JSON-ready dict."""
    settings = QUICK if quick else FULL
    results = {"machine": machine(), "quick": quick}
    size, batch, repeats = settings["size"], settings["batch"], settings["repeats"]
    results["training"] = training_report(size, batch, repeats, settings["variants"])
    results["inference"] = inference_report(NETWORKS, settings["sizes"], repeats, folder)
    return results

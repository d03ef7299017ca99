"""How good is a trained network? The comparison of Johnson et al. 2016 (Fig. 5).

For each content image: the training objective (content, style, TV, total) of the
network's output, and the objective that L-BFGS on the pixels (fst.optimize) reaches
after 50, 100, 200 and 300 iterations starting from the content image. The network's
"equivalent L-BFGS iterations" is where its total falls on the L-BFGS curve (linear
interpolation between iterations; Johnson et al. report 50 to 100 for theirs).

The objective is rebuilt from the model's own training settings (its ``training``
metadata) with the style image given by the user, so both sides are measured with the
loss the network was trained on. L-BFGS iterates are measured as optimised (not
clamped to [0, 1]); every iteration's objective is kept, so the interpolation has
one-iteration resolution. The L-BFGS curves do not depend on the network, so they are
cached (keyed by the photo's pixels, the style image's bytes, the objective settings,
the seed and the length): evaluating another checkpoint of the same run costs only the
network's forward passes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from fst import __version__
from fst.imageio import atomic_path
from fst.module import load_style_image
from fst.optimize import lbfgs_iterations, measure, objective_module
from fst.runners import Runner

CHECKPOINTS = (50, 100, 200, 300)
# Module settings that do not change the objective (the style image enters by its bytes).
NOT_OBJECTIVE = {"style_image", "arch", "width", "num_res_blocks", "channels_last", "lr"}
NOT_OBJECTIVE |= {"sample_every_n_steps"}


@dataclass
class ImageResult:
    """One content image: objective terms of the network and of L-BFGS at each checkpoint."""

    image: str
    size: tuple[int, int]  # (width, height) the objective was measured at
    network: dict[str, float]
    lbfgs: dict[int, dict[str, float]]
    equivalent_iterations: float | None  # None: the network beats every iterate computed
    curve: list[float] = field(repr=False)  # L-BFGS total at iterate 0, 1, ..., max checkpoint


def equivalent_iterations(target: float, curve: Sequence[float]) -> float | None:
    """First (fractional) iteration k at which ``curve`` (total at iterates 0, 1, ...)
    drops to ``target``, linearly interpolated; 0 if iterate 0 is already at or below
    it; None if no iterate reaches it."""
    for k, value in enumerate(curve):
        if value <= target:
            if k == 0:
                return 0.0
            before = curve[k - 1]
            return k - 1 + (before - target) / (before - value)
    return None


def evaluate_image(
    runner: Runner,
    module: torch.nn.Module,
    path: Path,
    size: int,
    checkpoints: Sequence[int] = CHECKPOINTS,
    seed: int = 0,
    on_iteration: Callable[[int, float], None] | None = None,
    cache: Path | None = None,
) -> ImageResult:
    """Score ``runner``'s network on the image at ``path`` (long side ``size``) against
    L-BFGS; ``module`` is an objective_module; ``on_iteration(i, total)`` reports progress;
    L-BFGS curves are read from and written to the folder ``cache`` when given."""
    device = next(module.parameters()).device
    content = load_style_image(path, size)
    stylized = torch.from_numpy(runner(content.numpy()))
    content, stylized = content.to(device), stylized.to(device)
    network = measure(module, stylized, content, seed)
    iterates = lbfgs_curve(module, content, max(checkpoints) + 1, seed, on_iteration, cache)
    curve = [terms["total"] for terms in iterates]
    return ImageResult(
        image=str(path),
        size=(content.shape[-1], content.shape[-2]),
        network=network,
        lbfgs={k: iterates[k] for k in checkpoints},
        equivalent_iterations=equivalent_iterations(network["total"], curve),
        curve=curve,
    )


def lbfgs_curve(
    module: torch.nn.Module,
    content: torch.Tensor,
    length: int,
    seed: int,
    on_iteration: Callable[[int, float], None] | None,
    cache: Path | None,
) -> list[dict[str, float]]:
    """Objective terms of L-BFGS iterates 0 .. length - 1 from ``content`` (1, 3, H, W)."""
    cached = cache / f"{curve_key(module, content, length, seed)}.json" if cache else None
    if cached is not None and cached.is_file():
        iterates = json.loads(cached.read_text())
        if on_iteration is not None:
            for i, terms in enumerate(iterates):
                on_iteration(i, terms["total"])
        return iterates
    steps = lbfgs_iterations(module, content, content, seed)
    iterates = []
    for i in range(length):
        iterates.append(next(steps))  # the objective of iterate i
        if on_iteration is not None:
            on_iteration(i, iterates[-1]["total"])
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached) as tmp:
            tmp.write_text(json.dumps(iterates))
    return iterates


def curve_key(module: torch.nn.Module, content: torch.Tensor, length: int, seed: int) -> str:
    """A digest of everything an L-BFGS curve depends on."""
    settings = {k: v for k, v in module.hparams.items() if k not in NOT_OBJECTIVE}
    digest = hashlib.sha256(json.dumps([__version__, settings, length, seed, str(content.device)]).encode())
    digest.update(Path(module.hparams.style_image).read_bytes())
    digest.update(content.cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def objective_for(runner: Runner, style_image: str | Path, device: str = "cpu") -> torch.nn.Module:
    """The objective the runner's network was trained with, on ``style_image``."""
    return objective_module(style_image, runner.info.get("training", {}), device)


def summary(results: Sequence[ImageResult]) -> dict:
    """Medians over images of the network's total, L-BFGS totals and equivalent iterations."""
    reached = [r.equivalent_iterations for r in results]
    finite = [x for x in reached if x is not None]
    checkpoints = sorted(results[0].lbfgs) if results else []
    return {
        "images": len(results),
        "network_total_median": _median([r.network["total"] for r in results]),
        "lbfgs_total_median": {k: _median([r.lbfgs[k]["total"] for r in results]) for k in checkpoints},
        # Images the network beats at every iterate count as +inf for the median.
        "equivalent_iterations_median": _median_or_none([x if x is not None else math.inf for x in reached]),
        "beyond_last_iterate": len(reached) - len(finite),
    }


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


def _median_or_none(values: list[float]) -> float | None:
    median = _median(values)
    return median if math.isfinite(median) else None


def format_iterations(value: float | None, last: int) -> str:
    """An equivalent iteration count for people: "73", or "> 300" when beyond the curve."""
    return f"> {last}" if value is None else f"{value:.0f}"


def report_json(model: str, style: str, size: int, results: Sequence[ImageResult], skipped: int) -> dict:
    """Everything measured, JSON-ready (iteration keys become strings)."""
    return {
        "model": model,
        "style_image": style,
        "size": size,
        "skipped_images": skipped,
        "summary": summary(results),
        "images": [asdict(r) for r in results],
    }


def markdown_table(results: Sequence[ImageResult]) -> str:
    """Per image: the network's objective, L-BFGS's at each checkpoint, equivalent iterations."""
    checkpoints = sorted(results[0].lbfgs) if results else list(CHECKPOINTS)
    header = ["image", "network", *[f"L-BFGS {k}" for k in checkpoints], "equivalent iterations"]
    rows = [header, ["---"] * len(header)]
    for r in results:
        equivalent = format_iterations(r.equivalent_iterations, checkpoints[-1])
        totals = [f"{r.lbfgs[k]['total']:.4g}" for k in checkpoints]
        rows.append([Path(r.image).name, f"{r.network['total']:.4g}", *totals, equivalent])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)

"""How good is a trained network? The comparison of Johnson et al. 2016 (Fig. 5).

For each content image: the training objective (content, style, TV, total) of the
network's output, and the objective that L-BFGS on the pixels (fst.measure.optimize) reaches
after 50, 100, 200 and 300 iterations starting from the content image. The network's
"equivalent L-BFGS iterations" is where its total falls on the L-BFGS curve (linear
interpolation between iterations; Johnson et al. report 50 to 100 for theirs).

The objective is the one stored in the model file (its LossConfig and style images;
fst.loss.objective), so both sides are measured with the loss the network was trained
on; a user-given style image replaces the stored one. L-BFGS iterates are measured as optimised (not
clamped to [0, 1]); every iteration's objective is kept, so the interpolation has
one-iteration resolution. The L-BFGS curves do not depend on the network, so they are
cached (keyed by the photo's pixels, the objective's settings and style pixels, the
seed and the length): evaluating another checkpoint of the same run costs only the
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
from fst.errors import FstError
from fst.imageio import atomic_path
from fst.infer.metadata import ModelInfo
from fst.infer.runners import Runner
from fst.infer.style_mix import one_hot, unknown_style
from fst.loss.config import LossConfig
from fst.loss.objective import PerceptualLoss, load_style_image
from fst.measure.optimize import lbfgs_iterations, measure
from fst.measure.quality import QualityMeter

CHECKPOINTS = (50, 100, 200, 300)


@dataclass
class ImageResult:
    """One content image: objective terms of the network and of L-BFGS at each checkpoint."""

    image: str
    size: tuple[int, int]  # (width, height) the objective was measured at
    network: dict[str, float]
    lbfgs: dict[int, dict[str, float]]
    equivalent_iterations: float | None  # None: the network beats every iterate computed
    quality: dict[str, float]  # style and content distances S, C (fst.measure.quality)
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
    objective: PerceptualLoss,
    path: Path,
    size: int,
    checkpoints: Sequence[int] = CHECKPOINTS,
    seed: int = 0,
    on_iteration: Callable[[int, float], None] | None = None,
    cache: Path | None = None,
    meter: QualityMeter | None = None,
) -> ImageResult:
    """Score ``runner``'s network on the image at ``path`` (long side ``size``) against
    L-BFGS on ``objective``, and by S and C (``meter``; default: against the objective's
    first painting); ``on_iteration(i, total)`` reports progress; L-BFGS curves are read
    from and written to the folder ``cache`` when given."""
    meter = meter or QualityMeter(objective.styles[0], objective.vgg)
    photo = meter.photo(path)
    quality = meter(torch.from_numpy(runner(photo.numpy())), photo)
    device = objective.vgg.mean.device
    content = load_style_image(path, size)
    stylized = torch.from_numpy(runner(content.numpy()))
    content, stylized = content.to(device), stylized.to(device)
    network = measure(objective, stylized, content, seed)
    iterates = lbfgs_curve(objective, content, max(checkpoints) + 1, seed, on_iteration, cache)
    curve = [terms["total"] for terms in iterates]
    return ImageResult(
        image=str(path),
        size=(content.shape[-1], content.shape[-2]),
        network=network,
        lbfgs={k: iterates[k] for k in checkpoints},
        equivalent_iterations=equivalent_iterations(network["total"], curve),
        quality=quality,
        curve=curve,
    )


def lbfgs_curve(
    objective: PerceptualLoss,
    content: torch.Tensor,
    length: int,
    seed: int,
    on_iteration: Callable[[int, float], None] | None,
    cache: Path | None,
) -> list[dict[str, float]]:
    """Objective terms of L-BFGS iterates 0 .. length - 1 from ``content`` (1, 3, H, W)."""
    cached = cache / f"{curve_key(objective, content, length, seed)}.json" if cache else None
    if cached is not None and cached.is_file():
        iterates = json.loads(cached.read_text())
        if on_iteration is not None:
            for i, terms in enumerate(iterates):
                on_iteration(i, terms["total"])
        return iterates
    steps = lbfgs_iterations(objective, content, content.clone(), seed)
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


def curve_key(objective: PerceptualLoss, content: torch.Tensor, length: int, seed: int) -> str:
    """A digest of everything an L-BFGS curve depends on."""
    key = [__version__, objective.fingerprint(), length, seed, str(content.device)]
    digest = hashlib.sha256(json.dumps(key).encode())
    digest.update(content.cpu().numpy().tobytes())
    return digest.hexdigest()[:32]


def evaluated_style(info: ModelInfo, style: str | Path | None) -> np.ndarray | None:
    """The (S,) one-hot weights of the style of a multi-style model that ``style`` names
    (None: its first; an image file: its first, scored against that image); None for a
    single-style model. FstError for a name the model does not hold."""
    names = info.style_names
    if len(names) == 1:
        return None
    name = names[0] if style is None or Path(style).is_file() else str(style)
    if name not in names:
        raise FstError(unknown_style(name, names))
    return one_hot(names.index(name), len(names))


def trained_painting(info: ModelInfo, name: str) -> Path | None:
    """The painting file of style ``name`` that a checkpoint's run trained on (its
    ``style_image`` setting: a file, folder or list), where it is still there."""
    from fst.train.paintings import painting_paths

    try:
        paths = painting_paths(info.training.get("style_image") or [])
    except FstError:
        return None
    return next((path for path in paths if path.stem == name and path.is_file()), None)


def model_objective(
    runner: Runner, style: str | Path | None = None, device: str = "cpu", origin: str | Path | None = None
) -> PerceptualLoss:
    """The objective ``runner``'s network was trained with: its stored LossConfig and style
    images; for ``style`` naming one of the styles of a multi-style model, that style's
    alone; for ``style`` an image file, that image in place of the stored ones. ``origin``:
    the model file, for messages (default: the runner's ``path``, where it has one).

    Raises FstError when the model stores no style image and none is given.
    """
    info = runner.info
    origin = str(origin or getattr(runner, "path", None) or "the model file")
    names = info.style_names
    if style is not None and len(names) > 1 and str(style) in names:
        index = names.index(str(style))
        if len(info.style_images) == len(names):
            image = info.style_images[index]
            return PerceptualLoss.from_stored(info.objective, [image], [names[index]], origin).to(device)
        style = trained_painting(info, names[index]) or style  # a checkpoint: the painting file
    if style is not None:
        return PerceptualLoss.from_files(LossConfig.from_dict(info.objective, origin), [style]).to(device)
    if info.style_images:
        names = [info.style] if len(info.style_images) == 1 else []
        return PerceptualLoss.from_stored(info.objective, info.style_images, names, origin).to(device)
    trained_on = Path(str(info.training.get("style_image", "")))
    if trained_on.is_file():
        return model_objective(runner, trained_on, device, origin)
    raise FstError(f"{origin}: the model file stores no style image (written by an older fst); pass --style")


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
        "style_distance_median": _median([r.quality["S"] for r in results]),
        "content_distance_median": _median([r.quality["C"] for r in results]),
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
    header = ["image", "network", *[f"L-BFGS {k}" for k in checkpoints], "equivalent iterations", "S", "C"]
    rows = [header, ["---"] * len(header)]
    for r in results:
        equivalent = format_iterations(r.equivalent_iterations, checkpoints[-1])
        totals = [f"{r.lbfgs[k]['total']:.4g}" for k in checkpoints]
        distances = [f"{r.quality['S']:.3f}", f"{r.quality['C']:.3f}"]
        rows.append([Path(r.image).name, f"{r.network['total']:.4g}", *totals, equivalent, *distances])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)

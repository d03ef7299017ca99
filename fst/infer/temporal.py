"""Temporal stabilization of stylized video: blend in the previous output, moved along the flow.

A feed-forward network stylizes each frame on its own, so its brush strokes pop and crawl
from one frame to the next. ``TemporalBlender`` sits above the runner (after
fst.infer.stylize.stylize_frames) and is used the same way by ``fst video`` and
``fst webcam``. For the input frame I_t and its stylized frame S_t it returns O_t:

1. Flow. The optical flow of the *input* frames I_t -> I_{t−1} (fst.infer.flow: DIS on
   grey frames shrunk to ``FlowSettings.max_side``, scaled back up), and the mask m_t of
   the pixels it matches (forward-backward check, no motion boundary, the warped previous
   input within a few grey levels of the current one), computed at the flow's size and
   scaled up bilinearly (soft edges).
2. Blend. P_t = warp(O_{t−1}) is the previous output moved onto the current frame, and
   L_t = S_t + w_t · (P_t − S_t) with w_t = strength · m_t. Because O_{t−1} was blended
   itself, this is an exponential moving average along motion paths.
3. Keep the texture. Averaging two brush-stroke patterns that do not line up lowers their
   contrast (the picture looks washed out: style distance up, content distance down). The
   local detail D = X − box(X) of L_t is scaled up by g = sqrt(E(D_S) / E(D_L)), clipped
   to [1, MAX_GAIN], where E is the local mean of |D|² (over BLOCK x BLOCK pixel blocks):
   O_t = L_t + (g − 1) · D_L, so the blended strokes regain the contrast of S_t's own. (The
   idea of Heitz & Neyret 2018's variance-preserving blending, with the variance measured
   rather than assumed: where the two patterns agree, g = 1 and nothing is amplified.)

Where w_t = 0 (occluded, newly visible or changed pixels) O_t is S_t exactly. A scene cut
(most pixels unmatched) resets the blender: the first frame of a new shot is S_t exactly,
so nothing of the old shot ghosts into it. ``strength`` 0 returns S_t unchanged and
computes no flow.

Frames are (H, W, 3) uint8, RGB or BGR (only their grey level enters the flow). Numpy and
OpenCV only, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fst.errors import FstError
from fst.infer.flow import FlowEstimator, grey, match, resize_flow, shrink, warp

DEFAULT_TEMPORAL = 0.7  # weight of the past where the flow is reliable (benchmarks/flicker.md)
DETAIL_BOX = 5  # side in px of the box filter that separates detail (strokes) from base
BLOCK = 4  # side in px of the blocks the detail energy is averaged over
MAX_GAIN = 2.0  # the most the detail of a blended pixel is amplified


@dataclass(frozen=True)
class FlowSettings:
    """How the blending flow is computed: the long side (px) frames are shrunk to first
    (None: full size) and the DIS preset (fst.infer.flow.PRESETS)."""

    max_side: int | None
    preset: str


VIDEO_FLOW = FlowSettings(640, "medium")  # `fst video`: the network costs far more than the flow
LIVE_FLOW = FlowSettings(240, "fast")  # `fst webcam`: a few ms per frame at 640x480


def check_temporal(strength: float) -> float:
    """``strength`` when it is a valid --temporal value (0 <= s < 1), else FstError (one line)."""
    if not 0.0 <= strength < 1.0:
        raise FstError(f"--temporal must be at least 0 (off) and below 1, got {strength}")
    return strength


def detail(image: np.ndarray) -> np.ndarray:
    """High-pass of an (H, W, 3) float32 image: itself minus its DETAIL_BOX box average."""
    return image - cv2.blur(image, (DETAIL_BOX, DETAIL_BOX), borderType=cv2.BORDER_REFLECT)


def energy(high: np.ndarray) -> np.ndarray:
    """Local mean over BLOCK x BLOCK blocks of |high|² summed over channels:
    (H, W, 3) float32 -> (ceil(H / BLOCK), ceil(W / BLOCK)) float32."""
    height, width = high.shape[:2]
    squares = cv2.transform(high * high, np.ones((1, 3), np.float32))
    size = (-(-width // BLOCK), -(-height // BLOCK))
    return cv2.resize(squares, size, interpolation=cv2.INTER_AREA)


def blend(stylized: np.ndarray, moved: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Texture-preserving blend (steps 2 and 3 of the module docstring).

    stylized: S, (H, W, 3) uint8; moved: P, the previous output warped onto this frame,
    same shape; weight: w, (H, W) float32 in [0, 1). Returns (H, W, 3) uint8, equal to S
    wherever w is 0.
    """
    height, width = stylized.shape[:2]
    current = stylized.astype(np.float32)
    weights = cv2.merge([weight, weight, weight])
    mixed = current + weights * (moved.astype(np.float32) - current)
    mixed_detail = detail(mixed)
    ratio = energy(detail(current)) / np.maximum(energy(mixed_detail), 1e-6)
    boost = np.clip(np.sqrt(ratio), 1.0, MAX_GAIN) - 1.0
    boost = cv2.resize(boost, (width, height), interpolation=cv2.INTER_LINEAR)
    boost[weight <= 0] = 0.0
    out = mixed + cv2.merge([boost, boost, boost]) * mixed_detail
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class TemporalBlender:
    """Stateful blender of the consecutive stylized frames of one video (module docstring).

    strength: weight of the warped previous output where the flow is reliable, 0 <= s < 1
        (0: off, every frame exactly as stylized). flow: VIDEO_FLOW or LIVE_FLOW.
    Counters: ``frames`` seen, ``cuts`` scene cuts detected (each reset the blending).
    """

    def __init__(self, strength: float, flow: FlowSettings = VIDEO_FLOW):
        self.strength = check_temporal(strength)
        self.flow = flow
        self.estimator = FlowEstimator(flow.preset) if strength > 0 else None
        self.frames = self.cuts = 0
        self._grey: np.ndarray | None = None  # previous input, grey, at the flow's size
        self._output: np.ndarray | None = None  # previous output, (H, W, 3) uint8

    def reset(self) -> None:
        """Forget the past: the next frame is returned as stylized (start of a new shot)."""
        self._grey = self._output = None

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The output for input ``frame`` and its per-frame stylization ``stylized``, both
        (H, W, 3) uint8 of the same size -> (H, W, 3) uint8."""
        self.frames += 1
        if self.estimator is None:
            return stylized
        small = shrink(grey(frame), self.flow.max_side)
        previous, last = self._grey, self._output
        self._grey, self._output = small, stylized
        if previous is None or last is None or last.shape != stylized.shape or previous.shape != small.shape:
            return stylized
        found = match(previous, small, self.estimator)
        if found.is_cut:
            self.cuts += 1
            return stylized
        height, width = stylized.shape[:2]
        weight = cv2.resize(found.matched.astype(np.float32) * self.strength, (width, height))
        moved = warp(last, resize_flow(found.flow, (width, height)))
        self._output = blend(stylized, moved, weight)
        return self._output

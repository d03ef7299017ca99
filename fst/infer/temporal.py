"""Temporal stabilization of stylized video: blend in the previous output, moved along the flow.

A feed-forward network stylizes each frame on its own, so its brush strokes pop and crawl
from one frame to the next. ``TemporalBlender`` sits above the runner (after
fst.infer.stylize.stylize_frames) and is used the same way by ``fst video`` and
``fst webcam``. For the input frame I_t and its stylized frame S_t it returns O_t:

1. Flow. The optical flow of the *input* frames I_t -> I_{t−1} (fst.infer.flow: DIS on
   grey frames shrunk to ``FlowSettings.max_side``, scaled back up), and the mask m_t of
   the pixels it matches (forward-backward check, no motion boundary, the warped previous
   input within a few grey levels of the current one), computed at the flow's size,
   softened at its edges (soft_mask) and scaled up bilinearly.
2. Blend. P_t = warp(O_{t−1}) + ΔI_t is the previous output moved onto the current frame
   plus the smooth change of the input along the flow, ΔI_t = the local mean over matched
   pixels of I_t − warp(I_{t−1}) (fades, exposure and light changes; without it the output
   would lag behind them). L_t = S_t + w_t · (P_t − S_t) with w_t = strength · m_t.
   Because O_{t−1} was blended itself, this is an exponential moving average along
   motion paths.
3. Keep the texture. Averaging two brush-stroke patterns that do not line up lowers their
   contrast (the picture looks washed out: style distance up, content distance down). The
   detail D_X = X − box(X) of L_t is scaled up by g = c(S_t) / c(L_t), clipped to
   [1, MAX_GAIN], where the contrast c is the mean |D| over BLOCK x BLOCK pixel blocks:
   O_t = box(L_t) + g · D_L, so the blended strokes regain the contrast of S_t's own. (The
   idea of Heitz & Neyret 2018's variance-preserving blending, with the contrast measured
   rather than assumed: where the two patterns agree, g = 1 and nothing is amplified.)

Where w_t = 0 (occluded, newly visible or changed pixels) O_t is S_t exactly. A scene cut
(most pixels unmatched) resets the blender: the first frame of a new shot is S_t exactly,
so nothing of the old shot ghosts into it. ``strength`` 0 returns S_t unchanged and
computes no flow.

Frames are (H, W, 3) uint8, RGB or BGR, the input and stylized frames in the same order
(the flow uses their grey level; the input's change is added channel by channel). Numpy
and OpenCV only, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fst.infer.flow import FlowEstimator, grey, match, shrink, warp
from fst.infer.stylize import check_temporal

DETAIL_BOX = 5  # side in px of the box filter that separates detail (strokes) from base
BLOCK = 4  # side in px of the blocks the detail's contrast is averaged over
MAX_GAIN = 2.0  # the most the detail of a blended pixel is amplified
MASK_BOX = 3  # side in px (at the flow's resolution) of the box that softens the mask's edges
CHANGE_BLUR = 1 / 40  # std of the Gaussian that smooths the input's change, in units of the long side
CHANGE_STEP = 4  # the input's change is smoothed on a grid this many times coarser than the flow's


@dataclass(frozen=True)
class FlowSettings:
    """How the blending flow is computed: the long side (px) frames are shrunk to first
    (None: full size) and the DIS preset (fst.infer.flow.PRESETS)."""

    max_side: int | None
    preset: str


VIDEO_FLOW = FlowSettings(640, "medium")  # `fst video`: the network costs far more than the flow
LIVE_FLOW = FlowSettings(240, "fast")  # `fst webcam`: ~10 ms per 640x480 frame, flow and blend


def contrast(image: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Local contrast of the strokes: the mean of |image − base| over the channels and
    BLOCK x BLOCK pixel blocks. image, base: (H, W, 3) uint8 -> (ceil(H / BLOCK), ceil(W / BLOCK))
    float32, in grey levels."""
    height, width = image.shape[:2]
    size = (-(-width // BLOCK), -(-height // BLOCK))
    blocks = cv2.resize(cv2.absdiff(image, base), size, interpolation=cv2.INTER_AREA)  # rounded means
    return blocks.astype(np.float32).mean(axis=-1)


def smooth(image: np.ndarray) -> np.ndarray:
    """The DETAIL_BOX x DETAIL_BOX box average of an (H, W, 3) uint8 image (its base;
    the detail, the strokes, is what is left)."""
    return cv2.blur(image, (DETAIL_BOX, DETAIL_BOX), borderType=cv2.BORDER_REFLECT)


def soft_mask(matched: np.ndarray) -> np.ndarray:
    """(h, w) bool -> (h, w) float32 in [0, 1]: the mask times its own MASK_BOX box average,
    1 inside large matched areas, falling off towards their edges, 0 where unmatched; lone
    matched pixels among unmatched ones get little weight (no speckles)."""
    mask = matched.astype(np.float32)
    return mask * cv2.blur(mask, (MASK_BOX, MASK_BOX), borderType=cv2.BORDER_REPLICATE)


def input_change(current: np.ndarray, moved: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The smooth change of the input along the flow: I_t − warp(I_{t−1}) averaged by a
    Gaussian (std CHANGE_BLUR of the long side) over the ``matched`` pixels only, so that
    occluded and newly visible pixels do not bleed into it (normalized convolution).

    current, moved: (h, w, 3) uint8, the input and its predecessor warped onto it;
    matched: (h, w) bool. Returns a coarse field, (ceil(h / CHANGE_STEP), ceil(w / CHANGE_STEP), 3)
    float32 in grey levels (signed), to be scaled up bilinearly.
    """
    height, width = current.shape[:2]
    size = (-(-width // CHANGE_STEP), -(-height // CHANGE_STEP))
    sigma = CHANGE_BLUR * max(size)
    mask = matched.astype(np.float32)
    change = cv2.subtract(current, moved, dtype=cv2.CV_32F) * mask[..., None]
    total = cv2.GaussianBlur(cv2.resize(change, size, interpolation=cv2.INTER_AREA), (0, 0), sigma)
    weight = cv2.GaussianBlur(cv2.resize(mask, size, interpolation=cv2.INTER_AREA), (0, 0), sigma)
    return total / np.maximum(weight, 1e-3)[..., None]


def blend(stylized: np.ndarray, moved: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Texture-preserving blend (steps 2 and 3 of the module docstring).

    stylized: S, (H, W, 3) uint8; moved: P, the previous output warped onto this frame,
    same shape; weight: w, (H, W) float32 in [0, 1). Returns (H, W, 3) uint8, equal to S
    wherever w is 0. (cv2.blendLinear computes a·x + b·y per pixel and rounds to uint8.)
    """
    height, width = stylized.shape[:2]
    mixed = cv2.blendLinear(moved, stylized, weight, 1.0 - weight)
    base = smooth(mixed)
    ratio = contrast(stylized, smooth(stylized)) / np.maximum(contrast(mixed, base), 1e-3)
    gain = cv2.resize(np.clip(ratio, 1.0, MAX_GAIN), (width, height), interpolation=cv2.INTER_LINEAR)
    np.copyto(gain, 1.0, where=weight <= 0)
    return cv2.blendLinear(mixed, base, gain, 1.0 - gain)  # base + gain · (mixed − base)


def blending_strength(temporal: float, strength: float) -> float:
    """The blending strength of a run with ``--temporal temporal --strength strength``: 0
    when nothing is stylized (strength 0), so the output is then exactly the input."""
    return temporal if strength > 0 else 0.0


class TemporalBlender:
    """Stateful blender of the consecutive stylized frames of one video (module docstring).

    strength: weight of the warped previous output where the flow is reliable, 0 <= s < 1
        (0: off, every frame exactly as stylized). flow: VIDEO_FLOW or LIVE_FLOW.
    ``cuts`` counts the scene cuts detected (each started the blending afresh).
    """

    def __init__(self, strength: float, flow: FlowSettings = VIDEO_FLOW):
        self.strength = check_temporal(strength)
        self.flow = flow
        self.estimator = FlowEstimator(flow.preset) if strength > 0 else None
        self.cuts = 0
        self._input: np.ndarray | None = None  # previous input at the flow's size, (h, w, 3) uint8
        self._output: np.ndarray | None = None  # previous output, (H, W, 3) uint8

    def __call__(self, frame: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The output for input ``frame`` and its per-frame stylization ``stylized``, both
        (H, W, 3) uint8 of the same size -> (H, W, 3) uint8."""
        if self.estimator is None:
            return stylized
        small = shrink(frame, self.flow.max_side)
        previous, last = self._input, self._output
        self._input, self._output = small, stylized
        if previous is None or last is None or last.shape != stylized.shape or previous.shape != small.shape:
            return stylized
        found = match(grey(previous), grey(small), self.estimator)
        if found.is_cut:
            self.cuts += 1
            return stylized
        size = stylized.shape[1], stylized.shape[0]
        weight = cv2.resize(soft_mask(found.matched) * self.strength, size)
        change = input_change(small, warp(previous, found.flow), found.matched)
        moved = cv2.add(warp(last, found.flow), cv2.resize(change, size), dtype=cv2.CV_8U)
        self._output = blend(stylized, moved, weight)
        return self._output

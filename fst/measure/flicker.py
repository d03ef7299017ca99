"""Flicker of a stylized video: the warping error of Lai et al. 2018, next to the input's own.

For input frames I_t and output frames O_t (t = 0 .. T-1), with the optical flow computed
on the *input* frames (fst.infer.flow: DIS, forward-backward occlusion check, motion
boundaries left out) and M_t its reliable pixels,

    E(O) = mean over frame pairs t of  Σ_x M_t(x) |O_t(x) − warp(O_{t−1})(x)| / (3 Σ_x M_t(x))

with pixel values in [0, 1] and |·| summed over the three channels (so E is a mean absolute
difference per channel). E(I), the same measure on the input frames, is how much the
content itself changes that the flow cannot explain (noise, light, flow errors): a
perfectly stable stylization has E(O) near E(I). Pairs across a scene cut (fst.infer.flow
``Match.is_cut``: most pixels unmatched) are left out of both means.

Numpy + OpenCV only (no torch): ``fst video --report`` uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from fst.infer.flow import FlowEstimator, FlowFunction, grey, match, warp


@dataclass(frozen=True)
class FlickerReport:
    """Warping errors (mean absolute difference per channel, values in [0, 1]) of the
    input and output frames, over ``pairs`` consecutive frame pairs; ``cuts`` pairs were
    left out as scene cuts."""

    input_error: float
    output_error: float
    pairs: int
    cuts: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        if not self.pairs:
            return "warping error: no frame pair to measure (fewer than two frames, or only cuts)"
        times = f" ({self.output_error / self.input_error:.1f}x the input's)" if self.input_error > 0 else ""
        left_out = f"; {self.cuts} scene cut(s) left out" if self.cuts else ""
        return (
            f"warping error (Lai et al. 2018): output {self.output_error:.4f}, "
            f"input {self.input_error:.4f}{times}, over {self.pairs} frame pairs{left_out}"
        )


def masked_error(current: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> float:
    """Mean over the ``mask`` (H, W) bool pixels and the channels of |current − warped|,
    both (H, W, 3) uint8, in [0, 1] units."""
    diff = np.abs(current.astype(np.int16) - warped.astype(np.int16))[mask]
    return float(diff.mean()) / 255.0


class FlickerMeter:
    """Accumulates the warping error over a stream of (input frame, output frame) pairs.

    Frames are (H, W, 3) uint8 in one channel order, all the same size. estimator: the
    optical flow, computed at the frames' size (default: DIS, preset "medium"; any
    fst.infer.flow.FlowFunction works).
    """

    def __init__(self, estimator: FlowFunction | None = None):
        self.estimator = estimator or FlowEstimator("medium")
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # input, grey, output
        self._input_sum = self._output_sum = 0.0
        self.pairs = self.cuts = 0

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        """The next frame of the video: the input ``source`` and what was made of it, ``output``."""
        if source.shape != output.shape or source.ndim != 3 or source.shape[-1] != 3:
            raise ValueError(f"expected two (H, W, 3) frames of one size, got {source.shape}, {output.shape}")
        current = grey(source)
        if self._previous is not None:
            last_source, last_grey, last_output = self._previous
            found = match(last_grey, current, self.estimator)
            if found.is_cut:  # also guarantees reliable pixels: matched ones are reliable
                self.cuts += 1
            else:
                self._input_sum += masked_error(source, warp(last_source, found.flow), found.reliable)
                self._output_sum += masked_error(output, warp(last_output, found.flow), found.reliable)
                self.pairs += 1
        self._previous = (source, current, output)

    def report(self) -> FlickerReport:
        """The warping errors so far (0 when no pair was measured)."""
        count = max(self.pairs, 1)
        return FlickerReport(self._input_sum / count, self._output_sum / count, self.pairs, self.cuts)


def warping_error(
    sources: Iterable[np.ndarray], outputs: Iterable[np.ndarray], estimator: FlowFunction | None = None
) -> FlickerReport:
    """The FlickerReport of a whole video: ``sources`` and ``outputs`` are matching
    sequences of (H, W, 3) uint8 frames (numpy arrays of shape (T, H, W, 3) work too);
    estimator: as for FlickerMeter."""
    meter = FlickerMeter(estimator)
    for source, output in zip(sources, outputs, strict=True):
        meter.add(source, output)
    return meter.report()

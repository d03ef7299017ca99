"""Synthetic moving pictures for the flow, flicker and temporal-blending tests (numpy + OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

HEIGHT, WIDTH = 72, 96  # frame size of the sequences below
STEP = 2  # pixels the picture moves left per frame in ``panning``


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """(height, width, 3) uint8: smooth random colour blobs on a few scales, sharp enough
    for optical flow to lock onto anywhere."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for sigma, amount in ((6.0, 1.0), (2.0, 0.6), (1.0, 0.3)):
        noise = rng.normal(0, 1, (height, width, 3)).astype(np.float32)
        blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
        image += amount * blurred / blurred.std()
    image = (image - image.min()) / (image.max() - image.min())
    return (image * 255).round().astype(np.uint8)


def panning(picture: np.ndarray, frames: int, step: int = STEP) -> np.ndarray:
    """(frames, HEIGHT, WIDTH, 3): a camera panning right over ``picture`` (which must be at
    least WIDTH + step * (frames - 1) wide), so the content moves ``step`` px left per frame:
    frame_t(x, y) = frame_{t-1}(x + step, y)."""
    return np.stack([picture[:HEIGHT, t * step : t * step + WIDTH] for t in range(frames)])


def known_flow(step: int = STEP) -> np.ndarray:
    """The true flow of ``panning`` from frame t to frame t-1: every pixel was ``step`` px
    to its right, (HEIGHT, WIDTH, 2) float32."""
    flow = np.zeros((HEIGHT, WIDTH, 2), np.float32)
    flow[..., 0] = step
    return flow

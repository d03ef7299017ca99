"""Shared fixtures: an isolated weights cache and tiny generated images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def weights_cache(tmp_path_factory) -> Path:
    """Every test (and subprocess) extracts the VGG weights into a fresh cache once."""
    cache = tmp_path_factory.mktemp("fst-cache")
    os.environ["FST_CACHE_DIR"] = str(cache)
    return cache


def random_photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth random colour image (gradients + blobs), more photo-like than noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
    channels = []
    for _ in range(3):
        a, b, c = rng.uniform(-3, 3, size=3)
        channels.append(0.5 + 0.4 * np.sin(a * xx * 6 + b * yy * 6 + c))
    img = np.stack(channels, axis=-1) + rng.normal(0, 0.03, size=(height, width, 3))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """Four 32x32 photos: with batch 4 and 32 px crops every step sees the same batch."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(4):
        random_photo(32, 32, seed=i).save(root / ("sub" if i % 2 else ".") / f"img{i}.jpg", quality=95)
    return root


@pytest.fixture
def style_image(tmp_path) -> Path:
    path = tmp_path / "style.png"
    random_photo(48, 40, seed=99).save(path)
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m fst.cli ARGS`` (or a script when args[0] ends in .py) as a user would."""
    cmd = [sys.executable, *args] if args[0].endswith(".py") else [sys.executable, "-m", "fst.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)

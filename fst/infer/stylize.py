"""Stylize images with any runner: resizing, tiling, colour preservation, strength, files.

Everything here sits above fst.infer.runners, so it works the same for PyTorch, ONNX Runtime
and OpenCV DNN, and imports no torch.

Large images are stylized in tiles that match the untiled result (fst.infer.staged,
fst.infer.tiling).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fst.errors import FstError
from fst.imageio import list_images, open_image, save_image, to_rgb
from fst.infer.runners import Runner
from fst.infer.staged import STAGED_TILE, can_stage, run_staged
from fst.infer.tiling import MIN_SIDE, budget_side, resize_rgb, run_padded, run_tiled

# Full-range BT.601 (JPEG) RGB <-> YCbCr, rows: Y, Cb, Cr; chroma offsets of 0.5 omitted.
RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float32
)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR).astype(np.float32)
# --temporal of fst video and fst webcam (fst.infer.temporal): the weight of the previous
# output where the flow is reliable (benchmarks/flicker.md). Here, not beside the blending,
# so the command line gets it without loading OpenCV.
DEFAULT_TEMPORAL = 0.8


def check_temporal(strength: float) -> float:
    """``strength`` when it is a valid --temporal value (0 <= s < 1), else FstError (one line)."""
    if not 0.0 <= strength < 1.0:
        raise FstError(f"--temporal must be at least 0 (off) and below 1, got {strength}")
    return strength


@dataclass(frozen=True)
class StylizeOptions:
    """How to stylize; the defaults give the plain network output at full size.

    max_size: downscale so the long side is at most this many pixels before the network,
        then scale the result back up to the input size (None: full resolution).
    tile: tile side in pixels; None: automatic (tile only above the memory budget);
        0: never tile.
    overlap: pixels shared by neighbouring tiles (None: fst.infer.tiling.default_overlap);
        PyTorch tiles only (ONNX models run in exact steps: fst.infer.staged).
    preserve_color: keep the input's chrominance, take only luminance from the style.
    strength: 1 = fully stylized, 0 = the input unchanged, between: linear blend.
    batch_size: images (or PyTorch tiles) per forward pass.
    style: mixing weights over a multi-style model's styles, one per style, summing to 1
        (fst.infer.style_mix.parse_style); None: its first style. Single-style models ignore it.
    """

    max_size: int | None = None
    tile: int | None = None
    overlap: int | None = None
    preserve_color: bool = False
    strength: float = 1.0
    batch_size: int = 1
    style: tuple[float, ...] | None = None

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise FstError(f"--strength must be between 0 and 1, got {self.strength}")
        if self.max_size is not None and self.max_size < MIN_SIDE:
            raise FstError(f"--max-size must be at least {MIN_SIDE}, got {self.max_size}")
        if self.tile is not None and self.tile != 0 and self.tile < 4 * MIN_SIDE:
            raise FstError(f"--tile must be 0 (never) or at least {4 * MIN_SIDE} pixels, got {self.tile}")
        if self.overlap is not None and self.tile and not 0 <= self.overlap <= self.tile // 2:
            raise FstError(
                f"--overlap must be between 0 and {self.tile // 2} (half a tile), got {self.overlap}"
            )
        if self.batch_size < 1:
            raise FstError(f"--batch-size must be at least 1, got {self.batch_size}")


def forward(runner: Runner, batch: np.ndarray, options: StylizeOptions) -> np.ndarray:
    """The network on a (N, 3, H, W) float32 batch, tiled when needed -> same shape.

    Tiles when ``options.tile`` is set and smaller than the image, or (tile None) when
    one pass over the batch would exceed the memory budget (fst.infer.tiling): in exact
    stages with the ONNX runtimes (fst.infer.staged), else with extrapolated statistics
    and blended overlaps (fst.infer.tiling). The reflected border margin is the network's
    own (fst.models.base.StyleNet).
    """
    height, width = batch.shape[2:]
    style = None if options.style is None else np.asarray(options.style, dtype=np.float32)
    tile = options.tile
    if tile is None:
        side = budget_side(runner, len(batch))
        tile = side if height * width > side * side else 0
    if not tile or (height <= tile and width <= tile):
        return run_padded(runner, batch, style=style)
    if can_stage(runner):
        tile = tile if options.tile else min(tile, STAGED_TILE)
        return np.stack([run_staged(runner, image, tile, style) for image in batch])
    return np.stack(
        [run_tiled(runner, image, tile, options.overlap, options.batch_size, style=style) for image in batch]
    )


# --------------------------------------------------------------------------- colour and blending


def preserve_color(content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Luminance-only transfer (Gatys et al. 2017): Y of ``stylized``, Cb and Cr of ``content``.

    Both (..., 3) float RGB in [0, 1]; full-range BT.601 YCbCr; the result is clipped to [0, 1].
    """
    content_ycc = content @ RGB_TO_YCBCR.T
    stylized_y = stylized @ RGB_TO_YCBCR[0]
    mixed = np.concatenate([stylized_y[..., None], content_ycc[..., 1:]], axis=-1)
    return np.clip(mixed @ YCBCR_TO_RGB.T, 0.0, 1.0)


def working_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """(w, h) the network sees: the long side capped at ``max_size``, aspect kept."""
    if max_size is None or max(width, height) <= max_size:
        return width, height
    scale = max_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


DEFAULTS = StylizeOptions()


def stylize_frames(runner: Runner, frames: np.ndarray, options: StylizeOptions = DEFAULTS) -> np.ndarray:
    """Stylize a stack of same-size RGB frames: (N, H, W, 3) uint8 -> (N, H, W, 3) uint8.

    Order: downscale (max_size) -> network (tiled if needed) -> upscale back to (H, W)
    -> colour preservation -> strength blend with the original frames.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    content = frames.astype(np.float32)
    content /= 255.0
    height, width = frames.shape[1:3]
    size = working_size(width, height, options.max_size)
    small = content if size == (width, height) else resize_rgb(content, size)
    outs = [
        forward(runner, small[i : i + options.batch_size].transpose(0, 3, 1, 2), options)
        for i in range(0, len(small), options.batch_size)
    ]
    stylized = np.concatenate(outs).transpose(0, 2, 3, 1)
    if size != (width, height):
        stylized = resize_rgb(stylized, (width, height))
    if options.preserve_color:
        stylized = preserve_color(content, stylized)
    if options.strength < 1.0:
        stylized = options.strength * stylized + (1.0 - options.strength) * content
    stylized *= 255.0  # in place (every step above made a new array): 100 MB per 4K copy
    np.rint(stylized, out=stylized)
    np.clip(stylized, 0, 255, out=stylized)
    return stylized.astype(np.uint8)


# --------------------------------------------------------------------------- images and files


def split_alpha(img: Image.Image) -> tuple[np.ndarray, Image.Image | None]:
    """An upright Pillow image -> (H, W, 3) uint8 RGB, alpha channel or None."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    alpha = img.convert("RGBA").getchannel("A") if has_alpha else None
    return np.asarray(to_rgb(img)), alpha


def join_alpha(rgb: np.ndarray, alpha: Image.Image | None) -> Image.Image:
    """(H, W, 3) uint8 + optional alpha -> an RGB or RGBA Pillow image."""
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        img.putalpha(alpha)
    return img


@dataclass(frozen=True)
class Job:
    """One file to stylize: read ``source``, write ``target`` (format from its suffix)."""

    source: Path
    target: Path


def stylize_files(
    runner: Runner, jobs: Iterable[Job], options: StylizeOptions = DEFAULTS
) -> Iterator[tuple[Job, FstError | None]]:
    """Stylize and write every job; yields (job, None) on success or (job, error).

    Consecutive images of the same size share a forward pass (up to batch_size). A
    file that cannot be read or written yields its error and never stops the rest.
    """
    pending: list[tuple[Job, np.ndarray, Image.Image | None]] = []

    def flush() -> Iterator[tuple[Job, FstError | None]]:
        batch, pending[:] = list(pending), []
        try:
            outs = stylize_frames(runner, np.stack([rgb for _, rgb, _ in batch]), options)
        except (RuntimeError, MemoryError) as exc:  # a runtime failing on this input
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            yield from ((job, FstError(f"{job.source}: stylizing failed ({reason})")) for job, _, _ in batch)
            return
        for (job, _, alpha), out in zip(batch, outs, strict=True):
            try:
                job.target.parent.mkdir(parents=True, exist_ok=True)
                save_image(join_alpha(out, alpha), job.target)
            except OSError as exc:
                yield job, FstError(f"{job.target.parent}: cannot create folder ({exc.strerror})")
            except FstError as exc:
                yield job, exc
            else:
                yield job, None

    for job in jobs:
        try:
            rgb, alpha = split_alpha(open_image(job.source))
        except FstError as exc:
            yield job, exc
            continue
        if pending and (rgb.shape != pending[0][1].shape or len(pending) >= options.batch_size):
            yield from flush()
        pending.append((job, rgb, alpha))
    if pending:
        yield from flush()


def folder_jobs(source: Path, target: Path, suffix: str | None = None) -> list[Job]:
    """Every image under ``source`` -> the same relative path under ``target``.

    suffix: output format as ".jpg"/".png"; None keeps each input's suffix. Images that
    already lie inside ``target`` (when it is inside ``source``) are not inputs. Raises
    FstError when ``target`` is ``source`` itself, or when two inputs would be written to
    the same output (``a.jpg`` and ``a.png`` with ``--format png``): no output ever
    replaces an input or another output of the same run.
    """
    target_abs = Path(os.path.abspath(target))
    if target_abs == Path(os.path.abspath(source)):
        raise FstError(
            f"{target}: is the input folder; stylized images would replace the photos, choose another"
        )
    jobs, first_source = [], {}
    for path in list_images(source):
        if Path(os.path.abspath(path)).is_relative_to(target_abs):
            continue
        relative = path.relative_to(source)
        job = Job(path, target / (relative.with_suffix(suffix) if suffix else relative))
        clash = first_source.setdefault(job.target, path)
        if clash != path:
            raise FstError(f"{clash} and {path} would both be written to {job.target}; rename one of them")
        jobs.append(job)
    return jobs

"""Temporal blending (fst.infer.temporal) alone, in `fst video` and in `fst webcam`."""

from __future__ import annotations

import re
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from fst.errors import FstError
from fst.infer.runners import open_runner
from fst.infer.stylize import DEFAULT_TEMPORAL, StylizeOptions, stylize_frames
from fst.infer.temporal import TemporalBlender, blend
from fst.infer.video import stylize_video
from fst.measure.flicker import warping_error
from tests.conftest import run_cli
from tests.inference_models import one_torch_thread, save_tiny_model  # noqa: F401 (autouse fixture)
from tests.moving_frames import HEIGHT, STEP, WIDTH, panning, texture

FRAMES = 8


def pan(seed: int, frames: int = FRAMES) -> np.ndarray:
    """A pan over a random texture, (frames, HEIGHT, WIDTH, 3) uint8."""
    return panning(texture(HEIGHT, WIDTH + STEP * frames, seed), frames)


def flickering(painted: np.ndarray, amount: float = 12.0) -> np.ndarray:
    """A per-frame "stylization" that moves with the content but gets fresh noise every frame."""
    rng = np.random.default_rng(0)
    noisy = painted.astype(np.float32) + rng.normal(0, amount, painted.shape)
    return np.clip(noisy.round(), 0, 255).astype(np.uint8)


def run_blender(
    strength: float, frames: np.ndarray, stylized: np.ndarray
) -> tuple[np.ndarray, TemporalBlender]:
    """The blended frames of ``stylized`` (stylizations of ``frames``) and the blender used."""
    blender = TemporalBlender(strength)
    return np.stack([blender(f, s) for f, s in zip(frames, stylized, strict=True)]), blender


def write_video(path, frames: np.ndarray, fps: int = 12) -> None:
    """``frames`` (T, H, W, 3) uint8 as a lossless-enough H.264 file (CRF 0), no audio."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "0"})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        for frame in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode(None))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_strength_zero_is_the_identity_and_bad_strengths_are_one_line():
    frames = pan(seed=1)
    stylized = flickering(pan(seed=2))
    out, blender = run_blender(0.0, frames, stylized)
    assert np.array_equal(out, stylized) and blender.estimator is None
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(FstError, match="--temporal must be at least 0"):
            TemporalBlender(bad)


def test_blending_cuts_flicker_and_keeps_the_texture():
    frames, painted = pan(seed=1), pan(seed=2)
    stylized = flickering(painted)
    out, blender = run_blender(DEFAULT_TEMPORAL, frames, stylized)
    before, after = warping_error(frames, stylized), warping_error(frames, out)
    assert after.output_error < 0.6 * before.output_error
    assert np.array_equal(out[0], stylized[0]) and blender.cuts == 0
    # The texture keeps its contrast: the detail of the blended frames does not fade.
    assert out[-1].astype(np.float32).std() > 0.9 * painted[-1].astype(np.float32).std()


def detail(image: np.ndarray) -> float:
    """Contrast of the fine detail: std of the image minus its 5x5 box blur."""
    pixels = image.astype(np.float32)
    return float((pixels - cv2.blur(pixels, (5, 5))).std())


@pytest.mark.parametrize("restore", [True, False])
def test_blending_keeps_the_strokes_contrast(monkeypatch, restore):
    """A still picture whose "stylization" is a fresh random pattern every frame: averaging
    the patterns would wash them out; the blend restores their contrast (MAX_GAIN 1: off)."""
    if not restore:
        monkeypatch.setattr("fst.infer.temporal.MAX_GAIN", 1.0)
    still = np.repeat(texture(HEIGHT, WIDTH, seed=1)[None], 6, axis=0)
    patterns = np.stack([texture(HEIGHT, WIDTH, seed=10 + t) for t in range(6)])
    out, _ = run_blender(DEFAULT_TEMPORAL, still, patterns)
    kept = detail(out[-1]) / detail(patterns[-1])
    assert (kept > 0.9) if restore else (kept < 0.8)


def test_a_fade_does_not_lag_behind():
    """The input's own smooth change (a fade to dark) is carried along, so the blended
    output follows the picture instead of trailing behind it."""
    still = texture(HEIGHT, WIDTH, seed=1).astype(np.float32)
    fade = np.stack([np.clip(still * (1 - 0.04 * t), 0, 255).astype(np.uint8) for t in range(12)])
    out, _ = run_blender(DEFAULT_TEMPORAL, fade, fade)  # a "stylization" that is the frame itself
    assert np.abs(out[6:].astype(int) - fade[6:]).mean() < 3  # without the correction: ~18


def test_occluded_pixels_are_left_as_stylized():
    frames = pan(seed=1, frames=3)
    frames[2, 20:44, 30:60] = texture(24, 30, seed=9)  # a new object appears in the last frame
    stylized = flickering(pan(seed=2, frames=3))
    out, _ = run_blender(0.9, frames, stylized)
    assert np.array_equal(out[2, 24:40, 34:56], stylized[2, 24:40, 34:56])  # inside the new object
    assert np.array_equal(out[2, :, WIDTH - 2 :], stylized[2, :, WIDTH - 2 :])  # entered at the edge
    assert not np.array_equal(out[2, 50:, :60], stylized[2, 50:, :60])  # seen before: blended


def test_blend_is_exact_where_the_weight_is_zero():
    rng = np.random.default_rng(0)
    stylized, moved = (rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(2))
    weight = np.zeros((HEIGHT, WIDTH), np.float32)
    weight[:, : WIDTH // 2] = 0.8
    out = blend(stylized, moved, weight)
    assert np.array_equal(out[:, WIDTH // 2 :], stylized[:, WIDTH // 2 :])
    assert not np.array_equal(out[:, : WIDTH // 2], stylized[:, : WIDTH // 2])


def test_a_scene_cut_starts_afresh_without_ghosts():
    """Two different stills spliced: the first frame after the cut is exactly its own stylization."""
    a, b = texture(HEIGHT, WIDTH, seed=1), texture(HEIGHT, WIDTH, seed=2)
    frames = np.stack([a] * 3 + [b] * 3)
    stylized = np.stack([texture(HEIGHT, WIDTH, seed=3)] * 3 + [texture(HEIGHT, WIDTH, seed=4)] * 3)
    out, blender = run_blender(0.9, frames, stylized)
    assert blender.cuts == 1
    assert np.array_equal(out[3:], stylized[3:])


def test_video_temporal_zero_is_per_frame_and_a_cut_leaves_no_ghost(tmp_path, model):
    """stylize_video at --temporal 0 hands the encoder exactly stylize_frames' frames; with
    blending on, the stills after a splice are exactly their own stylization too."""
    a, b = texture(HEIGHT, WIDTH, seed=1), texture(HEIGHT, WIDTH, seed=2)
    write_video(tmp_path / "spliced.mp4", np.stack([a] * 4 + [b] * 4))
    runner = open_runner(model)
    seen: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {0.0: [], 0.9: []}
    for strength, frames in seen.items():
        report = stylize_video(
            runner, tmp_path / "spliced.mp4", tmp_path / f"out{strength}.mp4", progress=False,
            temporal=strength, observe=lambda rgb, out, frames=frames: frames.append((rgb, out)),
        )  # fmt: skip
        assert report.frames == 8 and report.cuts == (strength > 0)
    inputs = np.stack([rgb for rgb, _ in seen[0.0]])
    per_frame = np.concatenate([stylize_frames(runner, frame[None]) for frame in inputs])
    assert np.array_equal(np.stack([out for _, out in seen[0.0]]), per_frame)
    blended = np.stack([out for _, out in seen[0.9]])
    assert np.array_equal(blended[4], per_frame[4])  # the first frame of the new shot: no ghost of a


def test_video_cli_reports_flicker_and_keeps_the_audio(tmp_path, model):
    from tests.infer.test_video import FRAMES as CLIP_FRAMES
    from tests.infer.test_video import make_video, read_video

    make_video(tmp_path / "in.mp4")
    clip, out = str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")
    result = run_cli("video", clip, out, "-m", str(model), "--report")
    assert result.returncode == 0, result.stderr
    assert f"temporal {DEFAULT_TEMPORAL:g}" in result.stdout
    assert "warping error (Lai et al. 2018): output" in result.stdout
    source, output = read_video(tmp_path / "in.mp4"), read_video(tmp_path / "out.mp4")
    assert len(output["frames"]) == CLIP_FRAMES and output["rate"] == source["rate"]
    assert output["audio"] == source["audio"] and len(output["audio"]) > 0

    flicker = run_cli("flicker", clip, out)
    assert flicker.returncode == 0, flicker.stderr
    assert f"{CLIP_FRAMES} frames; warping error" in flicker.stdout

    bad = run_cli("video", clip, str(tmp_path / "o.mp4"), "-m", str(model), "--temporal", "2")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "fst: error: --temporal must be at least 0 (off) and below 1, got 2.0"
    ]
    itself = run_cli("flicker", clip, clip)
    assert itself.returncode == 0 and re.search(r"output (\S+), input \1 ", itself.stdout), itself.stdout


def test_webcam_runs_with_temporal_blending(tmp_path, model):
    frames = pan(seed=1, frames=6)
    write_video(tmp_path / "pan.mp4", frames)
    result = run_cli(
        "webcam", "-m", str(model), "--source", str(tmp_path / "pan.mp4"), "--no-display",
        "--temporal", "0.5", "--output", str(tmp_path / "o.mp4"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "6 frames at" in result.stdout and "temporal 0.5" in result.stdout
    bad = run_cli("webcam", "-m", str(model), "--source", str(tmp_path / "pan.mp4"), "--temporal", "-1")
    assert bad.returncode == 1 and "--temporal must be at least 0" in bad.stderr


def test_onnx_video_with_blending_and_report_never_imports_torch(tmp_path):
    """`fst video --temporal --report` and `fst flicker` with a shipped ONNX model load no torch."""
    write_video(tmp_path / "pan.mp4", pan(seed=1, frames=4))
    clip, out = str(tmp_path / "pan.mp4"), str(tmp_path / "out.mp4")
    code = (
        "import sys\n"
        "from fst.cli import main\n"
        f"assert main(['video', {clip!r}, {out!r}, '-m', 'starry_night_fast', '--report']) == 0\n"
        f"assert main(['flicker', {clip!r}, {out!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout and result.stdout.count("warping error") == 2


def test_video_at_strength_zero_hands_the_encoder_the_input_whatever_temporal(tmp_path, model):
    """--strength 0 stylizes nothing, so there is nothing to stabilize: the encoder gets the
    decoded input frames exactly, with the default --temporal as with 0."""
    write_video(tmp_path / "pan.mp4", pan(seed=3, frames=6))
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    stylize_video(
        open_runner(model), tmp_path / "pan.mp4", tmp_path / "out.mp4", StylizeOptions(strength=0.0),
        progress=False, temporal=DEFAULT_TEMPORAL, observe=lambda rgb, out: seen.append((rgb, out)),
    )  # fmt: skip
    assert len(seen) == 6 and all(np.array_equal(rgb, out) for rgb, out in seen)

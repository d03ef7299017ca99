"""`fst video` and `fst webcam` on small generated videos with an audio track, via the CLI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from fst.infer.model_file import save_model_file
from fst.infer.webcam import parse_size, parse_source, processing_size
from fst.models.transformer import TransformerConfig, TransformerNet
from tests.conftest import run_cli

FRAMES, WIDTH, HEIGHT, FPS = 24, 64, 48, 12
SAMPLE_RATE, AUDIO_SECONDS = 8000, 2


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """The CLI subprocesses use one thread: on a shared, busy machine two OpenMP threads
    of a tiny network spend ~1 s per frame waiting on each other."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A small seeded TransformerNet (width 8, one residual block) as an inference file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model_file(TransformerNet(TransformerConfig(width=8, num_res_blocks=1)), path, "tiny", {})
    return path


def frame_picture(index: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: a moving colour gradient with a white 8x8 block in the top-left."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([(xx * 4 + index * 9) % 256, (yy * 5) % 256, np.full_like(xx, 60 + index * 4)], axis=-1)
    rgb[:8, :8] = 255
    return rgb.astype(np.uint8)


def make_video(
    path: Path,
    frames: int = FRAMES,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    rotation: int = 0,
    audio: bool = True,
) -> None:
    """H.264 video at FPS frames/s, optionally a display rotation, plus a 440 Hz AAC tone."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = *size, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        if audio:
            sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for i in range(frames):
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame_picture(i, *size), format="rgb24")))
        out.mux(video.encode(None))
        if audio:
            t = np.arange(SAMPLE_RATE * AUDIO_SECONDS) / SAMPLE_RATE
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, tone.size, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = SAMPLE_RATE, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))


def read_video(path: Path) -> dict:
    """Decoded RGB frames, frame rate, and every audio packet (bytes) with the audio duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate = video.average_rate
        audio = container.streams.audio[0] if container.streams.audio else None
        seconds = float(audio.duration * audio.time_base) if audio else None
        codec = audio.codec_context.name if audio else None
        frames, packets = [], []
        for packet in container.demux():
            if packet.stream.type == "audio" and packet.dts is not None:
                packets.append(bytes(packet))
            elif packet.stream.type == "video":
                frames += [frame.to_ndarray(format="rgb24") for frame in packet.decode()]
    return {"frames": frames, "rate": rate, "audio": packets, "audio_seconds": seconds, "audio_codec": codec}


def fst_with_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m fst.cli ARGS`` in the environment ``env`` (run_cli with a changed environment)."""
    command = [sys.executable, "-m", "fst.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The only stderr line of a failed command (asserts there is exactly one, no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("fst: error: "), result.stderr
    return lines[0]


def test_video_keeps_frame_count_size_rate_and_audio(tmp_path, model):
    make_video(tmp_path / "in.mp4")
    result = run_cli("video", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), "-m", str(model))
    assert result.returncode == 0, result.stderr
    assert "24 frames, 64x48 at 12 fps, 1 audio stream(s) copied" in result.stdout
    assert "frame/s" in result.stderr  # the progress bar shows frames per second
    source, output = read_video(tmp_path / "in.mp4"), read_video(tmp_path / "out.mp4")
    assert len(output["frames"]) == FRAMES
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in output["frames"])
    assert output["rate"] == Fraction(FPS)
    # The audio is carried over packet for packet, byte for byte.
    assert output["audio_codec"] == "aac"
    assert len(output["audio"]) == len(source["audio"]) > 0
    assert output["audio"] == source["audio"]
    assert output["audio_seconds"] == pytest.approx(source["audio_seconds"]) == pytest.approx(AUDIO_SECONDS)
    # Every frame went through the network (a random tiny net changes the picture a lot).
    diffs = [
        np.abs(a.astype(int) - b).mean() for a, b in zip(source["frames"], output["frames"], strict=True)
    ]
    assert min(diffs) > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary files left


def test_video_turns_rotated_frames_upright(tmp_path, model):
    """A phone-style display rotation is applied: the output is upright, with no rotation
    left; at --strength 0 it shows what OpenCV's own auto-rotation shows."""
    make_video(tmp_path / "rot.mp4", frames=6, rotation=90, audio=False)
    result = run_cli(
        "video",
        str(tmp_path / "rot.mp4"),
        str(tmp_path / "out.mp4"),
        "-m",
        str(model),
        "--strength",
        "0",
        "--batch-size",
        "4",
    )
    assert result.returncode == 0, result.stderr
    assert "6 frames, 48x64" in result.stdout
    frames = read_video(tmp_path / "out.mp4")["frames"]
    capture = cv2.VideoCapture(str(tmp_path / "rot.mp4"))
    for frame in frames:
        ok, bgr = capture.read()
        assert ok and bgr.shape == frame.shape == (WIDTH, HEIGHT, 3)
        assert np.abs(frame.astype(int) - bgr[..., ::-1]).mean() < 6  # two lossy encodes apart (~3)
    assert frames[0][WIDTH - 8 :, :8].min() > 200  # the white top-left block is now bottom-left
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 0


def test_video_errors_are_one_line(tmp_path, model):
    missing = one_error_line(
        run_cli("video", str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4"), "-m", str(model))
    )
    assert "nope.mp4: no such file" in missing
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    junk = one_error_line(
        run_cli("video", str(tmp_path / "junk.mp4"), str(tmp_path / "o.mp4"), "-m", str(model))
    )
    assert "junk.mp4: not a readable video" in junk
    make_video(tmp_path / "in.mp4", frames=2)
    folder = one_error_line(
        run_cli("video", str(tmp_path / "in.mp4"), str(tmp_path / "no" / "o.mp4"), "-m", str(model))
    )
    assert "output folder does not exist" in folder
    webm = one_error_line(
        run_cli("video", str(tmp_path / "in.mp4"), str(tmp_path / "o.webm"), "-m", str(model))
    )
    assert "o.webm: cannot carry the input's aac audio" in webm
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "junk.mp4"]


def test_video_interrupted_leaves_no_file(tmp_path, model):
    """Ctrl+C in the middle: exit 130, and neither the output nor its temporary file remains."""
    make_video(tmp_path / "long.mp4", frames=240, size=(320, 240), audio=False)
    command = [
        sys.executable,
        "-m",
        "fst.cli",
        "video",
        str(tmp_path / "long.mp4"),
        str(tmp_path / "out.mp4"),
        "-m",
        str(model),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".part.mp4") for p in tmp_path.iterdir()):  # encoding has started
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "fst: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_webcam_headless_file_source_records_every_frame(tmp_path, model):
    make_video(tmp_path / "small.mp4")
    result = run_cli(
        "webcam",
        "-m",
        str(model),
        "--source",
        str(tmp_path / "small.mp4"),
        "--no-display",
        "--output",
        str(tmp_path / "o.mp4"),
    )
    assert result.returncode == 0, result.stderr
    assert f"{FRAMES} frames at" in result.stdout and "stylized at 64x48" in result.stdout
    output = read_video(tmp_path / "o.mp4")
    assert len(output["frames"]) == FRAMES
    assert output["frames"][0].shape == (HEIGHT, WIDTH, 3)
    assert output["rate"] == Fraction(FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4", "small.mp4"]


def test_webcam_processing_size_and_max_frames(tmp_path, model):
    """A 320x240 file stylized at --size 80x60, stopped after 5 frames, recorded at 320x240;
    with no display in the environment it runs headless and says so."""
    make_video(tmp_path / "big.mp4", frames=12, size=(320, 240), audio=False)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    big, output = str(tmp_path / "big.mp4"), str(tmp_path / "o.mkv")
    result = fst_with_env(
        env,
        "webcam",
        "-m",
        str(model),
        "--source",
        big,
        "--size",
        "80x60",
        "--max-frames",
        "5",
        "--output",
        output,
    )
    assert result.returncode == 0, result.stderr
    assert "no display found, running headless" in result.stderr
    assert "5 frames at" in result.stdout and "stylized at 80x60" in result.stdout
    frames = read_video(tmp_path / "o.mkv")["frames"]
    assert len(frames) == 5 and frames[0].shape == (240, 320, 3)


def test_webcam_without_camera_is_one_line(model):
    line = one_error_line(run_cli("webcam", "-m", str(model), "--source", "7", "--no-display"))
    assert "no camera at index 7" in line


@pytest.mark.skipif(not re.search(r"GUI:\s+NONE", cv2.getBuildInformation()), reason="OpenCV has a GUI")
def test_webcam_display_without_gui_support_says_what_to_do(tmp_path, model):
    make_video(tmp_path / "small.mp4", frames=2, audio=False)
    env = {**os.environ, "DISPLAY": ":0"}
    result = fst_with_env(env, "webcam", "-m", str(model), "--source", str(tmp_path / "small.mp4"))
    line = one_error_line(result)
    assert "no GUI windows" in line and "--no-display" in line and "opencv-python" in line


def test_size_and_source_parsing():
    assert parse_size("320x240") == (320, 240)
    assert parse_size(" 64 X 48 ") == (64, 48)
    for bad in ("320", "320x", "4x240", "axb"):
        with pytest.raises(Exception, match="--size must be WIDTHxHEIGHT"):
            parse_size(bad)
    assert parse_source("0") == 0 and parse_source("12") == 12
    assert parse_source("clip.mp4") == "clip.mp4"
    assert parse_source("rtsp://cam/1") == "rtsp://cam/1"


def test_processing_size_defaults():
    assert processing_size(640, 480, None, "cpu") == (320, 240)  # long side 320 on a CPU
    assert processing_size(1280, 720, None, "cpu") == (320, 180)
    assert processing_size(480, 640, None, "cpu") == (240, 320)
    assert processing_size(200, 100, None, "cpu") == (200, 100)  # never scaled up
    assert processing_size(1280, 720, None, "cuda") == (1280, 720)  # a GPU takes the capture size
    assert processing_size(1280, 720, (400, 300), "cpu") == (400, 300)  # --size wins
    assert processing_size(640, 480, None, "cpu", real_time_net=True) == (640, 480)  # arch fast


@pytest.mark.parametrize(("size", "references"), [((1920, 1080), 3), ((2000, 1100), 1)])
def test_frames_above_1080p_get_the_light_encoder(tmp_path, size, references):
    """x264 writes its settings into the stream: "medium" keeps 3 reference frames, the
    "ultrafast" preset of frames above 1920x1088 one (its buffers take ~0.16 GB at 4K
    instead of ~0.5)."""
    from fst.infer.video import open_writer

    path = tmp_path / "big.mp4"
    with open_writer(path, *size, Fraction(1, 25), Fraction(25)) as writer:
        for i in range(2):
            writer.write(np.zeros((size[1], size[0], 3), np.uint8), i)
    settings = re.search(rb"options: ([ -~]*)", path.read_bytes()).group(1).decode()
    assert f" ref={references} " in settings

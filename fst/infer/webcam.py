"""Live stylization of a camera, video file or stream URL through OpenCV, with an FPS overlay.

Each captured frame is resized to a processing size (on a CPU by default about 320x240,
where the full network manages a few frames per second; the capture size for the
real-time network), stylized by a runner
(fst.infer.stylize.stylize_frames), scaled back to the capture size and shown in a window
with the measured frames per second; q or Esc (or closing the window) quits. With
``temporal`` > 0 each stylized frame is blended with the previous one moved along the
optical flow (fst.infer.temporal, with the flow at reduced resolution: LIVE_FLOW). Without a
display (no DISPLAY, or ``display=False``) the loop still runs; ``output`` records the
stylized stream (without the overlay) to a video file through fst.infer.video.open_writer,
atomically. Ctrl+C stops the loop and keeps what was recorded.

With a model holding several styles, keys switch and blend them while it runs
(StyleKeys): 1-9 pick style 1-9, n the next style, b a 50/50 blend of the current style
and the next (b again moves the blend one style on). The overlay names the mix.

Frames from OpenCV are (H, W, 3) uint8 BGR. Imports no torch.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # our one-line errors replace FFmpeg's log
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fst.errors import FstError  # noqa: E402
from fst.infer.runners import Runner  # noqa: E402
from fst.infer.style_mix import blend, describe_mix, one_hot  # noqa: E402
from fst.infer.stylize import DEFAULTS, StylizeOptions, stylize_frames  # noqa: E402
from fst.infer.temporal import LIVE_FLOW, TemporalBlender, blending_strength  # noqa: E402
from fst.infer.video import open_writer  # noqa: E402

CPU_PROCESSING_SIDE = 320  # long side of the default processing size on a CPU
WINDOW = "fst webcam (q or Esc quits)"
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # 27: Esc
NEXT_KEYS, BLEND_KEYS = (ord("n"), ord("N")), (ord("b"), ord("B"))  # and "1"-"9": StyleKeys
FALLBACK_FPS = 30.0  # frame rate recorded when the source states none
LIVE_TIME_BASE = Fraction(1, 1000)  # live sources are recorded with wall-clock milliseconds
FPS_SMOOTHING = 0.1  # weight of the newest frame in the moving average of the frame rate


def parse_source(text: str) -> int | str:
    """'0', '1', ... -> a camera index; anything else (a file, a URL) stays a string."""
    return int(text) if text.isdigit() else text


def parse_size(text: str) -> tuple[int, int]:
    """'320x240' -> (320, 240): width x height in pixels, each at least 8."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 8:
        raise FstError(f"--size must be WIDTHxHEIGHT with both at least 8 (e.g. 320x240), got {text!r}")
    return int(match[1]), int(match[2])


def processing_size(
    width: int, height: int, size: tuple[int, int] | None, device: str, real_time_net: bool = False
) -> tuple[int, int]:
    """(w, h) the network sees: ``size`` if given; else the capture size on a GPU or for
    the real-time network (arch "fast"), or on a CPU the capture size scaled (never up)
    to a long side of CPU_PROCESSING_SIDE."""
    if size is not None:
        return size
    if device == "cuda" or real_time_net or max(width, height) <= CPU_PROCESSING_SIDE:
        return width, height
    scale = CPU_PROCESSING_SIDE / max(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def open_capture(source: int | str) -> cv2.VideoCapture:
    """cv2.VideoCapture on ``source``; FstError (one line) when it cannot be opened."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no backend warnings
    is_url = isinstance(source, str) and "://" in source
    if isinstance(source, str) and not is_url and not Path(source).is_file():
        raise FstError(f"{source}: no such video file (give a camera index such as 0, a file or a URL)")
    capture = cv2.VideoCapture(source)
    if capture.isOpened():
        return capture
    if isinstance(source, int):
        raise FstError(
            f"no camera at index {source} (is one connected and not in use? try --source 0, 1, ...)"
        )
    raise FstError(f"{source}: OpenCV cannot open this video {'stream' if is_url else 'file'}")


def has_display() -> bool:
    """Whether a window could be shown: on Linux/BSD an X11 or Wayland display must be set."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_window() -> None:
    """Create the preview window; FstError if this OpenCV was built without GUI support."""
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
    except cv2.error:
        raise FstError(
            "this OpenCV has no GUI windows (opencv-python-headless); run with --no-display "
            "(and --output FILE), or install opencv-python instead"
        ) from None


def window_key() -> int | None:
    """Pump the window's events for 1 ms -> the key pressed (0xFF: none), or None to quit
    (q, Q, Esc, or the window was closed)."""
    key = cv2.waitKey(1) & 0xFF
    return None if key in QUIT_KEYS or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1 else key


class StyleKeys:
    """The style mix of a live loop over a model's styles ``names``, changed by keys.

    Starts at ``weights`` (S floats, e.g. from --style; None: style 1). ``press(key)``:
    "1"-"9" pick that style alone, "n" the next style alone, "b" a 50/50 blend of the
    current style and the next, and b again moves the blend one style on (wrapping).
    It returns whether the mix changed; ``weights`` is the current mix, S floats summing to 1.
    """

    def __init__(self, names: tuple[str, ...], weights: tuple[float, ...] | None = None):
        self.names = names
        self.weights = weights or tuple(one_hot(0, len(names)).tolist())
        self.current = int(np.argmax(self.weights))  # the style that n and b move on from
        self.blended = False

    def press(self, key: int) -> bool:
        count, before = len(self.names), self.weights
        if ord("1") <= key <= ord("9") and key - ord("1") < count:
            self.current, self.blended = key - ord("1"), False
        elif key in NEXT_KEYS:
            self.current, self.blended = (self.current + 1) % count, False
        elif key in BLEND_KEYS:
            self.current = (self.current + 1) % count if self.blended else self.current
            self.blended = True
        else:
            return False
        amount = 0.5 if self.blended else 0.0
        self.weights = tuple(blend(self.current, (self.current + 1) % count, amount, count).tolist())
        return self.weights != before

    def label(self) -> str:
        """The mix as the overlay shows it, e.g. 'great_wave 50% + starry_night 50%'."""
        return describe_mix(self.weights, self.names)


class FpsMeter:
    """Frames per second as an exponential moving average of the time between ``tick`` calls."""

    def __init__(self) -> None:
        self.fps = 0.0
        self._last: float | None = None

    def tick(self) -> float:
        now = time.perf_counter()
        if self._last is not None and now > self._last:
            current = 1.0 / (now - self._last)
            self.fps = (
                current if self.fps == 0.0 else (1 - FPS_SMOOTHING) * self.fps + FPS_SMOOTHING * current
            )
        self._last = now
        return self.fps


def draw_label(bgr: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``bgr`` with ``text`` in its top-left corner, white on a dark outline."""
    out = bgr.copy()
    scale = max(0.4, bgr.shape[0] / 640)
    origin = (8, int(24 * scale) + 4)
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return out


def stylize_bgr(
    runner: Runner,
    bgr: np.ndarray,
    size: tuple[int, int],
    options: StylizeOptions,
    blender: TemporalBlender | None = None,
) -> np.ndarray:
    """One (H, W, 3) uint8 BGR frame -> stylized at ``size`` (w, h), returned at (H, W).

    blender: temporal blending, applied at ``size`` (before scaling back up).
    """
    height, width = bgr.shape[:2]
    small = bgr if (width, height) == size else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(small[..., ::-1])
    styled = np.ascontiguousarray(stylize_frames(runner, rgb[None], options)[0][..., ::-1])
    if blender is not None:
        styled = blender(small, styled)
    return (
        styled
        if (width, height) == size
        else cv2.resize(styled, (width, height), interpolation=cv2.INTER_LINEAR)
    )


@dataclass(frozen=True)
class WebcamReport:
    """What run_webcam did: frames stylized, their mean rate (frames/s), capture and
    processing sizes, scene cuts at which the temporal blending started afresh."""

    frames: int
    fps: float
    capture_size: tuple[int, int]
    processing_size: tuple[int, int]
    cuts: int = 0


def run_webcam(
    runner: Runner,
    capture: cv2.VideoCapture,
    size: tuple[int, int] | None = None,
    display: bool = True,
    output: str | os.PathLike | None = None,
    options: StylizeOptions = DEFAULTS,
    max_frames: int | None = None,
    live: bool = True,
    temporal: float = 0.0,
) -> WebcamReport:
    """Stylize frames from ``capture`` until it ends, the user quits, Ctrl+C or ``max_frames``.

    size: processing size (w, h) or None for processing_size's default; display: show a
    window (call open_window first); output: video file to record the stylized frames to;
    live: a camera or stream (recorded with wall-clock timestamps) rather than a file
    (recorded at the file's frame rate, frame by frame); temporal: strength of the
    temporal blending, 0 <= t < 1 (0: off).
    """
    blender = TemporalBlender(blending_strength(temporal, options.strength), LIVE_FLOW)
    ok, frame = capture.read()
    started = shot = time.perf_counter()  # shot: when the current frame was captured
    if not ok:
        raise FstError("the video source gave no frame")
    height, width = frame.shape[:2]
    real_time_net = runner.info.family == "fast"
    work = processing_size(width, height, size, runner.device, real_time_net)
    rate = Fraction(capture.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS).limit_denominator(1001)
    time_base = LIVE_TIME_BASE if live else 1 / rate
    total = None if live else int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    meter, frames = FpsMeter(), 0
    styles = StyleKeys(runner.info.style_names, options.style)
    recording = open_writer(output, width, height, time_base, rate) if output else contextlib.nullcontext()
    with recording as writer, tqdm(total=total, unit="frame", desc="webcam", dynamic_ncols=True) as bar:
        try:
            while ok and (max_frames is None or frames < max_frames):
                styled = stylize_bgr(runner, frame, work, options, blender)
                if writer is not None:
                    pts = round((shot - started) / time_base) if live else frames
                    writer.write(np.ascontiguousarray(styled[..., ::-1]), pts)
                fps = meter.tick()
                frames += 1
                bar.update()
                if display:
                    label = f"{fps:4.1f} fps  {work[0]}x{work[1]}  {styles.label()}"
                    cv2.imshow(WINDOW, draw_label(styled, label))
                    key = window_key()
                    if key is None:
                        break
                    if styles.press(key):
                        options = replace(options, style=styles.weights)
                ok, frame = capture.read()
                shot = time.perf_counter()
        except KeyboardInterrupt:  # the usual way to stop a headless run: keep the recording
            print("fst webcam: stopped (Ctrl+C)", file=sys.stderr)
    if display:
        cv2.destroyWindow(WINDOW)
    elapsed = time.perf_counter() - started
    return WebcamReport(frames, frames / elapsed if elapsed > 0 else 0.0, (width, height), work, blender.cuts)

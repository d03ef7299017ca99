"""Video files in and out with PyAV (no ffmpeg binary): stylize every frame, keep the audio.

``stylize_video`` decodes every frame of the first video stream, turns it upright (the
stream's display rotation), stylizes it with a runner (fst.infer.stylize.stylize_frames, so
resizing, tiling, colour preservation and strength work as for photos) and encodes it
with the input frame's own timestamp, so the frame count, size and frame rate stay
the same. Audio packets are copied into the output unchanged (no re-encoding). With
``temporal`` > 0 each stylized frame is blended with the previous output moved along the
optical flow (fst.infer.temporal.TemporalBlender), which removes most of the flicker.

``VideoWriter`` (used here and by fst.infer.webcam) writes RGB frames to H.264 (VP9 for
.webm), atomically: frames go to a temporary file beside the target, renamed on
success; an error or Ctrl-C leaves nothing behind.

Frames are (H, W, 3) uint8 RGB numpy arrays. Imports no torch.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from fst.errors import FstError
from fst.imageio import atomic_path
from fst.infer.runners import Runner
from fst.infer.stylize import DEFAULTS, StylizeOptions, stylize_frames
from fst.infer.temporal import VIDEO_FLOW, TemporalBlender, blending_strength

# Called with every (input frame, output frame) as written, both (H, W, 3) uint8 RGB.
FrameObserver = Callable[[np.ndarray, np.ndarray], None]

# Encoder per container: the first one the output format can hold.
ENCODERS = (("h264", "libx264", {"crf": "18", "preset": "medium"}), ("vp9", "libvpx-vp9", {}))
# Above this many pixels a frame (1080p), x264 uses its lightest preset: "medium" keeps
# reference and look-ahead frames that take ~0.5 GB at 3840x2160, "ultrafast" ~0.16 GB
# (measured encoding 60 frames), for larger files at the same CRF.
LARGE_FRAME = 1920 * 1088
LARGE_FRAME_OPTIONS = {"libx264": {"preset": "ultrafast"}}
FALLBACK_RATE = Fraction(25)  # frames per second when a stream states none
BT709, LIMITED_RANGE = 1, 1  # FFmpeg's AVCOL_SPC/PRI/TRC_BT709 and AVCOL_RANGE_MPEG


def first_line(exc: BaseException) -> str:
    """A short reason: FFmpeg's error text without its code, or the message's first line."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        return exc.strerror
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def open_video(path: str | os.PathLike) -> av.container.InputContainer:
    """Open a video file for reading; FstError (one line) if missing, not a video or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FstError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise FstError(f"{path}: not a readable video ({first_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise FstError(f"{path}: has no video stream")
    return container


def check_output(path: str | os.PathLike) -> None:
    """Fail early (FstError) when ``path`` could not be written: no such folder, or read-only."""
    folder = Path(path).parent
    if not folder.is_dir():
        raise FstError(f"{folder}: output folder does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FstError(f"{folder}: cannot write here (permission denied)")


def upright(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame -> (H, W, 3) uint8 RGB, rotated as the stream says it is displayed.

    ``frame.rotation`` is the counter-clockwise angle of the display matrix (0, ±90, 180).
    """
    rgb = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class VideoWriter:
    """Encodes RGB frames into an open output container and copies audio packets into it.

    width, height: frame size in pixels (odd sizes are encoded as 4:4:4, even as 4:2:0);
    time_base: the unit of the ``pts`` given to ``write`` (seconds per tick);
    rate: nominal frames per second (stream metadata); audio: input streams whose packets
    ``copy`` will remux unchanged; label: the file name errors mention.
    """

    def __init__(
        self,
        container: av.container.OutputContainer,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction,
        audio: Sequence[av.AudioStream] = (),
        label: str = "",
    ):
        label = label or container.name
        supported = container.supported_codecs
        encoder = next(((name, opts) for codec, name, opts in ENCODERS if codec in supported), None)
        if encoder is None:
            raise FstError(f"{label}: this file type cannot hold H.264 or VP9 video; use .mp4 or .mkv")
        for stream in audio:
            if stream.codec_context.name not in supported:
                raise FstError(
                    f"{label}: cannot carry the input's {stream.codec_context.name} audio "
                    "into this file type; use .mkv (holds any audio)"
                )
        name, options = encoder
        self.container = container
        self.time_base = time_base
        if width * height > LARGE_FRAME:
            options = {**options, **LARGE_FRAME_OPTIONS.get(name, {})}
        self.video = container.add_stream(name, rate=rate, options=dict(options))
        self.video.width, self.video.height = width, height
        self.video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        context = self.video.codec_context
        context.time_base = time_base
        # Tagged BT.709, limited range: what players assume for HD; untagged they guess.
        context.colorspace = context.color_primaries = context.color_trc = BT709
        context.color_range = LIMITED_RANGE
        self.audio = {stream.index: container.add_stream_from_template(stream) for stream in audio}
        self.frames = 0
        self._last_pts: int | None = None
        container.start_encoding()

    def write(self, rgb: np.ndarray, pts: int) -> None:
        """Encode one (height, width, 3) uint8 RGB frame shown at ``pts`` (in time_base units).

        Timestamps must increase; a repeated or earlier one is moved one tick after the last.
        """
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=self.video.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG",
            dst_color_trc=BT709, dst_color_primaries=BT709,
        )  # fmt: skip
        frame.pts, frame.time_base = pts, self.time_base
        self.container.mux(self.video.encode(frame))
        self._last_pts = pts
        self.frames += 1

    def copy(self, packet: av.Packet) -> None:
        """Remux one packet of an input audio stream given to the constructor, unchanged."""
        if packet.dts is None:  # the demuxer's empty end-of-stream packet
            return
        packet.stream = self.audio[packet.stream.index]
        self.container.mux(packet)

    def finish(self) -> None:
        """Flush the frames the encoder still holds (B-frames, lookahead)."""
        self.container.mux(self.video.encode(None))


@contextlib.contextmanager
def open_writer(
    path: str | os.PathLike,
    width: int,
    height: int,
    time_base: Fraction,
    rate: Fraction,
    audio: Sequence[av.AudioStream] = (),
) -> Iterator[VideoWriter]:
    """A VideoWriter on a temporary file beside ``path``, renamed onto it only on success.

    The container format follows the suffix of ``path`` (.mp4, .mkv, .mov, .webm, ...).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            container = av.open(str(tmp), "w")
        except ValueError:  # FFmpeg knows no format for this suffix
            raise FstError(
                f"{path}: unknown video format '{path.suffix}' (use .mp4, .mkv, .mov or .webm)"
            ) from None
        except av.FFmpegError as exc:
            raise FstError(f"{path}: cannot write ({first_line(exc)})") from None
        with container:
            try:
                writer = VideoWriter(container, width, height, time_base, rate, audio, label=str(path))
                yield writer
                writer.finish()
            except av.FFmpegError as exc:
                raise FstError(f"{path}: writing the video failed ({first_line(exc)})") from None


@dataclass(frozen=True)
class VideoReport:
    """What stylize_video wrote: frame count, size (pixels), frames per second, audio
    streams, and the scene cuts at which the temporal blending started afresh."""

    frames: int
    width: int
    height: int
    rate: Fraction
    audio_streams: int
    cuts: int = 0


def stream_rate(stream: av.VideoStream) -> Fraction:
    """Frames per second a video stream declares (average, else guessed, else FALLBACK_RATE)."""
    return stream.average_rate or stream.guessed_rate or FALLBACK_RATE


def demux(container: av.container.InputContainer) -> Iterator[av.VideoFrame | av.Packet]:
    """Decoded frames of the first video stream and raw packets of every audio stream,
    in file order."""
    video = container.streams.video[0]
    for packet in container.demux(video, *container.streams.audio):
        if packet.stream.type == "audio":
            yield packet
        else:
            yield from packet.decode()


def stylize_video(
    runner: Runner,
    source: str | os.PathLike,
    target: str | os.PathLike,
    options: StylizeOptions = DEFAULTS,
    progress: bool = True,
    temporal: float = 0.0,
    observe: FrameObserver | None = None,
) -> VideoReport:
    """Stylize every frame of ``source`` into ``target``; audio streams are copied as they are.

    Frames are stylized ``options.batch_size`` at a time. The output keeps each frame's
    timestamp, so it has the input's frame count, upright size and frame rate.
    temporal: strength of the temporal blending, 0 <= t < 1 (0: every frame on its own,
    exactly as fst.infer.stylize.stylize_frames makes it). observe: called with every
    (input, output) frame pair in order, as handed to the encoder (e.g. FlickerMeter.add).
    Raises FstError (one line) for an unreadable input or an unwritable output.
    """
    blender = TemporalBlender(blending_strength(temporal, options.strength), VIDEO_FLOW)
    source, target = Path(source), Path(target)
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise FstError(f"{target}: refusing to overwrite the input video")
    with open_video(source) as container:
        video, audio = container.streams.video[0], list(container.streams.audio)
        rate = stream_rate(video)
        time_base = video.time_base or 1 / rate
        items = decoded(demux(container), source)
        held, first = until_first_frame(items)  # the first frame fixes the output size
        if first is None:
            raise FstError(f"{source}: the video stream has no frames")
        height, width = upright(first).shape[:2]
        with (
            open_writer(target, width, height, time_base, rate, audio) as writer,
            tqdm(total=video.frames or None, desc=source.name, unit="frame", disable=not progress) as bar,
        ):
            batch: list[tuple[int, np.ndarray]] = []
            index = 0  # of the next frame
            for item in itertools.chain(held, [first], items):
                if isinstance(item, av.Packet):
                    writer.copy(item)
                    continue
                rgb = upright(item)
                if rgb.shape != (height, width, 3):
                    raise FstError(f"{source}: the frame size changes mid-stream; not supported")
                pts = item.pts if item.pts is not None else round(index / rate / time_base)
                batch.append((pts, rgb))
                index += 1
                if len(batch) == options.batch_size:
                    bar.update(write_stylized(runner, batch, writer, options, blender, observe))
            if batch:
                bar.update(write_stylized(runner, batch, writer, options, blender, observe))
    return VideoReport(writer.frames, width, height, rate, len(audio), blender.cuts)


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Every frame of the first video stream of ``path``, upright, as (H, W, 3) uint8 RGB.

    Raises FstError (one line) for a missing, unreadable or undecodable file.
    """
    with open_video(path) as container:
        for frame in decoded(container.decode(video=0), Path(path)):
            yield upright(frame)


def decoded(items: Iterator, source: Path) -> Iterator:
    """``items`` unchanged, with FFmpeg decoding errors turned into one-line FstErrors."""
    try:
        yield from items
    except av.FFmpegError as exc:
        raise FstError(f"{source}: cannot decode ({first_line(exc)})") from None


def until_first_frame(items: Iterator) -> tuple[list[av.Packet], av.VideoFrame | None]:
    """Read ``items`` up to the first video frame -> (the audio packets before it, the frame)."""
    held = []
    for item in items:
        if isinstance(item, av.VideoFrame):
            return held, item
        held.append(item)
    return held, None


def write_stylized(
    runner: Runner,
    batch: list[tuple[int, np.ndarray]],
    writer: VideoWriter,
    options: StylizeOptions,
    blender: TemporalBlender,
    observe: FrameObserver | None = None,
) -> int:
    """Stylize a batch of (pts, RGB frame), blend each with its predecessor (in order) and
    write it; empties the batch, returns its size."""
    outs = stylize_frames(runner, np.stack([rgb for _, rgb in batch]), options)
    for (pts, rgb), styled in zip(batch, outs, strict=True):
        out = blender(rgb, styled)
        if observe is not None:
            observe(rgb, out)
        writer.write(out, pts)
    count = len(batch)
    batch.clear()
    return count

"""Video files in and out through PyAV (FFmpeg in the wheel): probing, batched frame reading, atomic writing.

Frames travel as ``uint8`` RGB arrays ``(H, W, 3)``. :class:`VideoWriter` encodes H.264
(``libx264``; 4:2:0 chroma, or 4:4:4 for odd sizes, which 4:2:0 cannot hold) into a temporary
file beside the target and renames it into place on success, so an error, Ctrl-C or SIGTERM leaves
no half-written video. Timestamps are those of the input frames, so the frame rate (constant or
variable) and the audio sync are kept; the audio track is copied packet for packet when the output
container can hold its codec, else re-encoded to AAC.

PyAV is an optional dependency (``pip install "adain-nst[video]"``): it is imported when a
function here is first called, never when :mod:`adain_nst` is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from ..errors import InputError, VideoReadError

OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
"""Containers :class:`VideoWriter` writes H.264 into (chosen by the output's suffix)."""

DEFAULT_CRF = 18
"""libx264 constant rate factor: 0 lossless .. 51 worst; 18 is visually near-lossless."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reads from a video file's headers.

    ``fps`` is the average frame rate (frames per second, exact as a fraction); ``frames`` the
    frame count the container declares (``None`` when it does not say); ``duration`` in seconds
    (``None`` when unknown); ``audio_codec`` the first audio track's codec name, or ``None``.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None
    duration: float | None
    codec: str
    audio_codec: str | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _open_input(path: str | os.PathLike[str]) -> Any:
    """``av.open(path)`` with the library's errors: missing file, a folder, or not a video."""
    av = require("av", "video")
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"video file not found: {p}")
    if p.is_dir():
        raise VideoReadError(f"{p} is a folder, not a video file")
    try:
        container = av.open(str(p), "r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"cannot read {p} as a video: {exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{p} has no video track")
    return container


def _fps(stream: Any) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise VideoReadError(f"cannot tell the frame rate of video track {stream.index}")
    return Fraction(rate)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate, frame count, duration and codecs of a video file (headers only)."""
    with contextlib.closing(_open_input(path)) as container:
        v = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = None
        if v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        return VideoInfo(
            path=Path(path),
            width=int(v.codec_context.width),
            height=int(v.codec_context.height),
            fps=_fps(v),
            frames=int(v.frames) or None,
            duration=duration,
            codec=v.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
        )


@dataclass
class FrameBatch:
    """Consecutive decoded frames: ``rgb`` ``(B, H, W, 3)`` uint8 and each frame's ``pts`` (or ``None``)."""

    rgb: np.ndarray
    pts: list[int | None]


class VideoReader:
    """Decodes a video's first video track in batches; hands its other packets (audio) to a callback.

    Use as a context manager. :meth:`batches` demuxes the file once: video packets are decoded
    into :class:`FrameBatch` es of up to ``batch_size`` frames (presentation order), audio
    packets of the first audio track are passed to ``on_audio`` as they come.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.info = probe(path)
        self.container = _open_input(path)
        self.video = self.container.streams.video[0]
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.video.thread_type = "AUTO"

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def batches(self, batch_size: int, on_audio: Any = None) -> Iterator[FrameBatch]:
        """Yield :class:`FrameBatch` es of ``batch_size`` frames (the last may be shorter)."""
        av = require("av", "video")
        streams = [self.video] + ([self.audio] if self.audio is not None and on_audio is not None else [])
        frames: list[np.ndarray] = []
        pts: list[int | None] = []
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.type == "audio":
                    if packet.dts is not None:
                        on_audio(packet)
                    continue
                for frame in packet.decode():
                    frames.append(frame.to_ndarray(format="rgb24"))
                    pts.append(frame.pts)
                    if len(frames) == batch_size:
                        yield FrameBatch(np.stack(frames), pts)
                        frames, pts = [], []
        except av.FFmpegError as exc:
            raise VideoReadError(f"cannot decode {self.path}: {exc}") from None
        if frames:
            yield FrameBatch(np.stack(frames), pts)


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if its suffix names a container :class:`VideoWriter` writes, else :class:`InputError`."""
    p = Path(path)
    if p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"cannot write video {p}: use one of the suffixes {', '.join(OUTPUT_SUFFIXES)} (H.264)")
    if p.is_dir():
        raise InputError(f"{p} is a folder; give a video file name such as {p / 'out.mp4'}")
    return p


class VideoWriter:
    """Writes H.264 frames (and optionally one audio track) to ``path`` atomically.

    Frames go to a temporary file beside ``path``; :meth:`close` (or leaving the ``with``
    block normally) flushes the encoder and renames it into place; an exception inside the
    block, or :meth:`abort`, deletes it and leaves ``path`` as it was.

    Args:
        path: the output file (``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``).
        width, height: frame size in px (any; odd sizes are written 4:4:4).
        fps: the frame rate written to the header (frames per second).
        time_base: the time unit of the frames' ``pts`` (the input track's), default ``1/fps``.
        audio: an input audio stream (PyAV) whose packets :meth:`write_audio` copies or re-encodes.
        crf: libx264 quality, 0 (lossless) .. 51 (default :data:`DEFAULT_CRF`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        width: int,
        height: int,
        fps: Fraction,
        *,
        time_base: Fraction | None = None,
        audio: Any = None,
        crf: int = DEFAULT_CRF,
    ) -> None:
        av = require("av", "video")
        self.path = check_output_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{self.path.suffix}")
        self.container: Any = None
        self.container = av.open(str(self.tmp), "w")
        try:
            self.video = self.container.add_stream("libx264", rate=Fraction(fps))
            self.video.width, self.video.height = int(width), int(height)
            self.video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
            self.video.options = {"crf": str(int(crf))}
            self.time_base = Fraction(time_base) if time_base is not None else 1 / Fraction(fps)
            self.step = max(1, round(1 / (Fraction(fps) * self.time_base)))  # one frame period in time_base units
            self.video.codec_context.time_base = self.time_base
            self.audio_in = audio
            self.audio_out: Any = None
            self.audio_copy = False
            if audio is not None:
                self.audio_copy = audio.codec_context.name in self.container.supported_codecs
                if self.audio_copy:
                    self.audio_out = self.container.add_stream_from_template(audio)
                else:
                    self.audio_out = self.container.add_stream("aac", rate=audio.codec_context.sample_rate)
            self._next_pts = 0
            self.frames = 0
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb: np.ndarray, pts: list[int | None] | None = None) -> None:
        """Encode frames ``rgb`` ``(B, H, W, 3)`` or ``(H, W, 3)`` uint8 with their ``pts`` (in :attr:`time_base`).

        Without ``pts`` (or with ``None`` entries) frames follow the previous one by one frame period.
        """
        av = require("av", "video")
        frames = rgb[None] if rgb.ndim == 3 else rgb
        for i, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            p = pts[i] if pts is not None and i < len(pts) else None
            frame.pts = self._next_pts if p is None else p
            frame.time_base = self.time_base
            self._next_pts = frame.pts + self.step
            for packet in self.video.encode(frame):
                self.container.mux(packet)
            self.frames += 1

    def write_audio(self, packet: Any) -> None:
        """Copy an input audio packet (or decode it and re-encode to AAC when the container cannot hold it)."""
        if self.audio_out is None:
            return
        if self.audio_copy:
            packet.stream = self.audio_out
            self.container.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for out in self.audio_out.encode(frame):
                self.container.mux(out)

    def close(self) -> Path:
        """Flush the encoders, close the file and rename it to :attr:`path`; returns it."""
        try:
            for packet in self.video.encode():
                self.container.mux(packet)
            if self.audio_out is not None and not self.audio_copy:
                for packet in self.audio_out.encode():
                    self.container.mux(packet)
            self.container.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file; :attr:`path` is left untouched."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.close()
        self.tmp.unlink(missing_ok=True)


__all__ = [
    "DEFAULT_CRF",
    "OUTPUT_SUFFIXES",
    "FrameBatch",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "check_output_path",
    "probe",
]

"""Synthetic clips for tests, benchmarks and docs: a camera panning or zooming over a still photo.

The motion is known and smooth, with sub-pixel steps, so a flicker-free stylisation of such a
clip has a warping error near 0 and any flicker shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .._deps import require
from ..errors import InputError
from ..image import ImageLike, load_image

MOTIONS = ("pan", "zoom")


def camera_frames(
    image: ImageLike,
    *,
    size: tuple[int, int] = (256, 144),
    frames: int = 16,
    motion: str = "pan",
    speed: float = 2.5,
) -> np.ndarray:
    """Frames of a virtual camera over ``image``: ``(frames, H, W, 3)`` uint8 RGB.

    Args:
        image: a path or PIL image (RGB).
        size: ``(width, height)`` of the frames in px.
        frames: how many.
        motion: ``"pan"`` (left to right, slight downward drift) or ``"zoom"`` (into the centre).
        speed: for ``"pan"`` px per frame at the output scale; for ``"zoom"`` % scale per frame.
    """
    if motion not in MOTIONS:
        raise InputError(f"motion must be one of {MOTIONS}, got {motion!r}")
    im = load_image(image) if not isinstance(image, Image.Image) else image.convert("RGB")
    w, h = size
    # The source is scaled so that the whole path of the camera stays inside it.
    travel = speed * (frames - 1) if motion == "pan" else 0.0
    scale = max((w + travel + 2) / im.width, (h + 0.3 * travel + 2) / im.height)
    if motion == "zoom":
        scale = max(w / im.width, h / im.height) * 1.02
    src = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    out = np.empty((frames, h, w, 3), dtype=np.uint8)
    for t in range(frames):
        if motion == "pan":
            x0, y0, zoom = 1.0 + speed * t, 1.0 + 0.3 * speed * t, 1.0
        else:
            zoom = (1.0 + speed / 100.0) ** t
            x0 = (src.width - w / zoom) / 2
            y0 = (src.height - h / zoom) / 2
        box = (x0, y0, x0 + w / zoom, y0 + h / zoom)
        out[t] = np.asarray(src.resize((w, h), Image.Resampling.BICUBIC, box=box))
    return out


def write_clip(
    path: str | os.PathLike[str],
    frames: np.ndarray | Sequence[np.ndarray],
    fps: Fraction | int = 25,
    *,
    codec: str = "libx264",
    audio_hz: float | None = None,
    audio_codec: str = "aac",
    crf: int = 12,
) -> Path:
    """Write ``(H, W, 3)`` uint8 frames as a video (for tests and benchmarks), optionally with a sine tone.

    ``codec``: ``"libx264"`` (default), ``"mpeg4"``, ``"libx264rgb"``...; ``audio_hz``: the tone's
    pitch (``None``: no audio track), 48 kHz mono, encoded with ``audio_codec``.
    """
    av = require("av", "video")
    arr = [np.ascontiguousarray(f) for f in frames]
    h, w = arr[0].shape[:2]
    p = Path(path)
    with av.open(str(p), "w") as out:
        vs = out.add_stream(codec, rate=Fraction(fps))
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p" if codec != "libx264rgb" else "rgb24"
        if codec.startswith("libx264"):
            vs.options = {"crf": str(crf)}
        aus = None
        if audio_hz is not None:
            aus = out.add_stream(audio_codec, rate=48000)
            aus.layout = "mono"
        for f in arr:
            for packet in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            n = round(48000 * len(arr) / float(Fraction(fps)))
            tone = (0.3 * np.sin(2 * np.pi * audio_hz * np.arange(n) / 48000)).astype(np.float32)
            step = 1024
            for i in range(0, n, step):
                chunk = tone[None, i : i + step]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                frame.sample_rate = 48000
                frame.pts = i
                for packet in aus.encode(frame):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return p


__all__ = ["MOTIONS", "camera_frames", "write_clip"]

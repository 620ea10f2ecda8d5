""":func:`stylize_video`: a video file in, a stylised H.264 video file out (frame rate, size and audio kept)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._checks import check_alpha, check_positive_int, check_style_weights
from ..api import ModelSource, get_model
from ..color import check_color_mode, coral
from ..engine.runtime import dtype_name, resolve_device, resolve_dtype
from ..errors import InputError
from ..image import ImageLike, shorter_side_dims, to_tensor
from ..pipeline import check_call_options, check_min_side
from .io import DEFAULT_CRF, VideoReader, VideoWriter, check_output_path, probe
from .stabilize import DEFAULT_BLEND, DEFAULT_MOMENTUM, FrameStylizer, check_stabilize

DEFAULT_BATCH = 8
"""Frames stylised per network pass."""


@dataclass(frozen=True)
class VideoResult:
    """What :func:`stylize_video` wrote: the file, its frame count, rate and size, and how it ran.

    ``fps`` is frames per second of the video (the input's); ``frames_per_second`` the processing
    speed (frames stylised per wall-clock second, reading and writing included).
    """

    path: Path
    frames: int
    fps: Fraction
    width: int
    height: int
    audio: bool
    stabilize: str
    dtype: str
    device: str
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``fps`` as a float and as ``"num/den"``)."""
        return {
            "output": str(self.path),
            "frames": self.frames,
            "fps": float(self.fps),
            "fps_exact": f"{self.fps.numerator}/{self.fps.denominator}",
            "size": [self.width, self.height],
            "audio": self.audio,
            "stabilize": self.stabilize,
            "dtype": self.dtype,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.frames_per_second, 3),
        }


def _show_progress(progress: bool | None) -> bool:
    if progress is None:
        return sys.stderr.isatty()
    if not isinstance(progress, bool):
        raise InputError(f"progress must be True, False or None, got {progress!r}")
    return progress


def _resize_frames(frames: np.ndarray, dims: tuple[int, int] | None) -> np.ndarray:
    """``(B, H, W, 3)`` uint8 resized to ``dims`` (H, W) with antialiasing (no-op for ``None``)."""
    if dims is None or frames.shape[1:3] == dims:
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=dims, mode="bilinear", align_corners=False, antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def stylize_video(
    input: str | os.PathLike[str],
    style: ImageLike | Sequence[ImageLike],
    output: str | os.PathLike[str],
    alpha: float = 1.0,
    *,
    transform: str | None = None,
    levels: Sequence[str] | None = None,
    level_alpha: Mapping[str, float] | None = None,
    model: ModelSource | None = None,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | None = None,
    stabilize: str | None = None,
    momentum: float = DEFAULT_MOMENTUM,
    blend: float = DEFAULT_BLEND,
    batch_size: int = DEFAULT_BATCH,
    audio: bool = True,
    crf: int = DEFAULT_CRF,
    progress: bool | None = None,
) -> VideoResult:
    """Stylise every frame of a video with ``style`` and write an H.264 video, atomically.

    Reads any container and codec FFmpeg (PyAV) reads; keeps the frame count, the timestamps
    (so the frame rate, constant or variable) and the size (or the ``content_size`` one), and the
    first audio track (copied, or re-encoded to AAC where the output container cannot hold it).
    Needs the ``video`` extra: ``pip install "adain-nst[video]"``.

    Args:
        input: the video file.
        style: one style image (path, PIL, numpy, tensor) or a list to interpolate; encoded once.
        output: ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv`` file; written to a temporary file and renamed
            into place at the end (an error leaves nothing behind and an existing file untouched).
        alpha, transform, levels, level_alpha, model, dtype, device, content_size, style_size,
            style_weights: as :func:`adain_nst.stylize` (``content_size`` resizes every frame).
        preserve_color: ``None``, ``"luminance"`` (per frame), or ``"coral"``/``True`` (the style is
            recoloured once, to the first frame's colours, so its statistics stay fixed).
        stabilize: ``"none"`` (per frame), ``"stats"`` (smoothed content statistics) or ``"flow"``
            (statistics plus an optical-flow-guided blend with the previous output; the default,
            see ``docs/video.md``).
        momentum: EMA weight of past content statistics, in [0, 1) (``"stats"`` and ``"flow"``).
        blend: weight of the warped previous output on trustworthy pixels, in [0, 1) (``"flow"``).
        batch_size: frames per network pass (memory grows with it).
        audio: keep the audio track (``False``: video only).
        crf: libx264 quality, 0 (lossless) .. 51; 18 is visually near-lossless.
        progress: a tqdm bar with frames/s on stderr (``None``: when stderr is a terminal).

    Returns:
        :class:`VideoResult`.
    """
    t0 = time.perf_counter()
    # Everything that needs no model and no decoding first (types strict).
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles_in:
        raise InputError("at least one style image is needed")
    check_call_options(
        alpha,
        level_alpha=level_alpha,
        style_weights=style_weights,
        n_styles=len(styles_in),
        preserve_color=preserve_color,
        content_size=content_size,
        style_size=style_size,
    )
    alpha = check_alpha(alpha)
    weights = check_style_weights(style_weights, len(styles_in))
    color_mode = check_color_mode(preserve_color)
    mode = check_stabilize(stabilize)
    check_positive_int(batch_size, "batch_size")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InputError(f"crf must be an integer in 0..51, got {crf!r}")
    show = _show_progress(progress)
    out_path = check_output_path(output)
    info = probe(input)
    if Path(input).resolve() == out_path.resolve():
        raise InputError(f"the output {out_path} is the input video: choose another file name")
    dev = resolve_device(device) if not isinstance(model, torch.nn.Module) or device is not None else None
    if dev is not None:
        resolve_dtype(dtype, dev)
    net = get_model(model, device=device)
    dev = net.device
    compute_dtype = resolve_dtype(dtype, dev)
    cascade = net.cascade(transform=transform, levels=levels)
    dims = shorter_side_dims(info.height, info.width, content_size) if content_size is not None else None
    height, width = dims if dims is not None else (info.height, info.width)
    check_min_side(cascade, height, width, f"video frame ({input})", "content_size")
    styles = []
    for i, s in enumerate(styles_in):
        t, _ = to_tensor(s, f"style {i}", size=style_size)
        check_min_side(cascade, *t.shape[-2:], f"style {i}", "style_size", padded=False)
        styles.append(t.to(dev))

    with (
        VideoReader(input) as reader,
        VideoWriter(
            out_path,
            width,
            height,
            info.fps,
            time_base=Fraction(reader.video.time_base) if reader.video.time_base else None,
            audio=reader.audio if audio else None,
            crf=crf,
        ) as writer,
    ):
        stylizer: FrameStylizer | None = None
        bar = tqdm(total=info.frames, unit="frame", desc="video", disable=not show, dynamic_ncols=True)
        try:
            for batch in reader.batches(batch_size, on_audio=writer.write_audio if audio else None):
                frames = _resize_frames(batch.rgb, dims)
                if stylizer is None:
                    if color_mode == "coral":
                        first = torch.from_numpy(frames[0]).permute(2, 0, 1).float().div(255.0).to(dev)
                        styles = [coral(s, first[None]).clamp(0.0, 1.0) for s in styles]
                    stylizer = FrameStylizer(
                        net,
                        styles,
                        alpha=alpha,
                        transform=transform,
                        levels=levels,
                        level_alpha=level_alpha,
                        style_weights=weights,
                        dtype=compute_dtype,
                        stabilize=mode,
                        momentum=momentum,
                        blend=blend,
                        preserve_color="luminance" if color_mode == "luminance" else None,
                    )
                writer.write(stylizer(frames, dev), batch.pts)
                bar.update(len(frames))
        finally:
            bar.close()
        if writer.frames == 0:
            raise InputError(f"{input} has no decodable video frame")
        has_audio = writer.audio_out is not None
        count = writer.frames
    return VideoResult(
        path=out_path,
        frames=count,
        fps=info.fps,
        width=width,
        height=height,
        audio=has_audio,
        stabilize=mode,
        dtype=dtype_name(compute_dtype),
        device=str(dev),
        seconds=time.perf_counter() - t0,
    )


__all__ = ["DEFAULT_BATCH", "VideoResult", "stylize_video"]

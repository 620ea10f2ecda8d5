"""Tiny synthetic clips, written with PyAV into tmp_path (skipped without the video extra)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2", reason='needs the video extra: pip install "adain-nst[video]"')

from adain_nst import AdaINModel, samples
from adain_nst.video.synthetic import camera_frames, write_clip


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as (H, W, 3) uint8."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def audio_samples(path: Path) -> int:
    """Decoded audio samples (per channel) of the first audio track, 0 without one."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0
        return sum(f.samples for f in c.decode(audio=0))


@pytest.fixture()
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """``make_clip(name, frames=8, size=(64, 48), fps=25, audio=False, motion="pan")``: a panning clip file."""

    def make(
        name: str = "clip.mp4",
        *,
        frames: int = 8,
        size: tuple[int, int] = (64, 48),
        fps: int = 25,
        audio: bool = False,
        motion: str = "pan",
        speed: float = 1.5,
    ) -> Path:
        arr = camera_frames(samples.path("chelsea"), size=size, frames=frames, motion=motion, speed=speed)
        return write_clip(tmp_path / name, arr, fps, audio_hz=440.0 if audio else None)

    return make


@pytest.fixture(scope="session")
def adain_model() -> AdaINModel:
    """The bundled cd16x AdaIN single pass (small and trained: real flicker to stabilise)."""
    import adain_nst

    return adain_nst.load_model("cd16x").adain

"""stylize_video keeps frame count, rate, size and audio; writes atomically; names bad input."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av", reason='needs the video extra: pip install "adain-nst[video]"')
pytest.importorskip("cv2", reason='needs the video extra: pip install "adain-nst[video]"')

import adain_nst
from adain_nst import AdaINModel, samples
from adain_nst.errors import InputError, MissingDependencyError, VideoReadError
from adain_nst.video import probe, stylize_video
from adain_nst.video.stabilize import FrameStylizer

from .conftest import audio_samples, read_frames

STYLE = samples.path("van_gogh_wheat_field_with_cypresses")


@pytest.mark.parametrize("stabilize", ["none", "flow"])
def test_frames_rate_size_and_audio_are_kept(
    make_clip: Callable[..., Path], adain_model: AdaINModel, tmp_path: Path, stabilize: str
) -> None:
    src = make_clip("in.mp4", frames=8, size=(64, 48), fps=24, audio=True)
    out = tmp_path / "out.mp4"
    result = stylize_video(src, STYLE, out, model=adain_model, stabilize=stabilize, batch_size=3, progress=False)
    info = probe(out)
    assert (result.frames, result.width, result.height, result.audio) == (8, 64, 48, True)
    assert (info.width, info.height, info.fps, info.codec) == (64, 48, Fraction(24), "h264")
    frames = read_frames(out)
    assert len(frames) == 8 and frames[0].shape == (48, 64, 3)
    # The audio track is copied packet for packet: as many samples as the input's.
    assert audio_samples(out) == audio_samples(src) > 0
    # Stylised, not copied: far from the input frames.
    assert np.abs(frames[3].astype(float) - read_frames(src)[3]).mean() > 10
    assert result.to_dict()["stabilize"] == stabilize and result.dtype == "float32"


def test_no_audio_option_and_odd_sizes_and_mkv(make_clip: Callable[..., Path], adain_model: AdaINModel) -> None:
    src = make_clip("in.mp4", frames=5, size=(66, 50), audio=True)
    out = src.with_name("out.mkv")
    result = stylize_video(src, STYLE, out, model=adain_model, audio=False, content_size=49, progress=False)
    info = probe(out)
    assert (info.width, info.height, info.frames or len(read_frames(out))) == (65, 49, 5)
    assert not result.audio and info.audio_codec is None


def test_error_mid_video_leaves_no_file_and_keeps_an_old_one(
    make_clip: Callable[..., Path], adain_model: AdaINModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_clip("in.mp4", frames=8)
    out = src.with_name("out.mp4")
    out.write_bytes(b"previous result")
    calls = {"n": 0}
    original = FrameStylizer.__call__

    def failing(self: FrameStylizer, frames: np.ndarray, device: str = "cpu") -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return original(self, frames, device)

    monkeypatch.setattr(FrameStylizer, "__call__", failing)
    with pytest.raises(RuntimeError, match="boom"):
        stylize_video(src, STYLE, out, model=adain_model, batch_size=3, progress=False)
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in src.parent.iterdir()) == ["in.mp4", "out.mp4"]  # no temporary file left


def test_bad_inputs_are_named(tmp_path: Path, adain_model: AdaINModel) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoReadError, match=r"cannot read .*notes\.mp4 as a video"):
        stylize_video(text, STYLE, tmp_path / "o.mp4", model=adain_model)
    with pytest.raises(VideoReadError, match="not found"):
        stylize_video(tmp_path / "missing.mp4", STYLE, tmp_path / "o.mp4", model=adain_model)
    image = tmp_path / "still.png"
    adain_nst.save_image(np.zeros((20, 20, 3), np.uint8), image)
    with pytest.raises(InputError, match="suffixes"):
        stylize_video(image, STYLE, tmp_path / "o.gif", model=adain_model)
    with pytest.raises(InputError, match="stabilize"):
        stylize_video(image, STYLE, tmp_path / "o.mp4", model=adain_model, stabilize="heavy")
    assert not (tmp_path / "o.mp4").exists()


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(__import__("sys").modules, "av", None)  # `import av` now fails
    with pytest.raises(MissingDependencyError, match=r"adain-nst\[video\]"):
        probe(tmp_path / "x.mp4")


def test_importing_the_package_loads_no_optional_dependency() -> None:
    import subprocess
    import sys

    code = (
        "import sys, adain_nst; "
        "print(sorted(m for m in ('av', 'cv2', 'onnx', 'onnxruntime', 'onnxscript') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""Stabilisation lowers the warping error of a panning clip; stats with momentum 0 is per-frame."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av", reason='needs the video extra: pip install "adain-nst[video]"')
pytest.importorskip("cv2", reason='needs the video extra: pip install "adain-nst[video]"')
import torch

from adain_nst import AdaINModel, samples
from adain_nst.errors import InputError
from adain_nst.image import to_tensor
from adain_nst.video import FrameStylizer, warping_error
from adain_nst.video.synthetic import camera_frames


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return camera_frames(samples.path("chelsea"), size=(96, 64), frames=8, motion="pan", speed=1.7)


def _run(model: AdaINModel, clip: np.ndarray, mode: str, **kw: float) -> np.ndarray:
    style = to_tensor(samples.path("monet_etretat"), "style", size=128)[0]
    s = FrameStylizer(model, [style], style_weights=[1.0], stabilize=mode, **kw)
    return np.concatenate([s(clip[i : i + 3]) for i in range(0, len(clip), 3)])  # batches carry the state


def test_flow_stabilisation_lowers_the_warping_error(adain_model: AdaINModel, clip: np.ndarray) -> None:
    per_frame = warping_error(_run(adain_model, clip, "none"), clip)
    stabilised = warping_error(_run(adain_model, clip, "flow"), clip)
    assert stabilised <= 0.6 * per_frame


def test_stats_with_momentum_zero_is_per_frame(adain_model: AdaINModel, clip: np.ndarray) -> None:
    a = _run(adain_model, clip[:4], "none").astype(int)
    b = _run(adain_model, clip[:4], "stats", momentum=0.0).astype(int)
    assert np.abs(a - b).max() <= 1  # the same transform up to float rounding


def test_stats_smoothing_changes_later_frames_only(adain_model: AdaINModel, clip: np.ndarray) -> None:
    a = _run(adain_model, clip[:4], "none").astype(int)
    b = _run(adain_model, clip[:4], "stats", momentum=0.9).astype(int)
    assert np.abs(a[0] - b[0]).max() <= 1  # the first frame has no past
    assert np.abs(a[3] - b[3]).mean() > 0.01


def test_wct_stats_mode_runs_and_efdm_warns(clip: np.ndarray) -> None:
    import adain_nst

    family = adain_nst.load_model("cd16x")
    style = torch.rand(1, 3, 40, 40)
    wct = FrameStylizer(family, [style], transform="wct", levels=("relu2_1",), style_weights=[1.0], stabilize="stats")
    out = wct(clip[:2])
    assert out.shape == clip[:2].shape and out.dtype == np.uint8
    with pytest.warns(UserWarning, match="EFDM"):
        FrameStylizer(family, [style], transform="efdm", levels=("relu2_1",), style_weights=[1.0], stabilize="flow")


def test_bad_options_are_refused(adain_model: AdaINModel) -> None:
    style = torch.rand(1, 3, 32, 32)
    with pytest.raises(InputError, match="momentum"):
        FrameStylizer(adain_model, [style], style_weights=[1.0], momentum=1.0)
    with pytest.raises(InputError, match="blend"):
        FrameStylizer(adain_model, [style], style_weights=[1.0], blend=True)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="uint8"):
        FrameStylizer(adain_model, [style], style_weights=[1.0])(np.zeros((1, 16, 16, 3), np.float32))

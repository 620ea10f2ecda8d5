"""The warping error: ~0 for a clip against itself, 2 sigma^2 for independent per-frame noise."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("av", reason='needs the video extra: pip install "adain-nst[video]"')
pytest.importorskip("cv2", reason='needs the video extra: pip install "adain-nst[video]"')

from adain_nst import load_image, samples
from adain_nst.errors import InputError
from adain_nst.video import occlusion_mask, optical_flow, warp, warping_error, warping_errors
from adain_nst.video.synthetic import camera_frames


@pytest.fixture(scope="module")
def pan() -> np.ndarray:
    return camera_frames(samples.path("astronaut"), size=(96, 64), frames=5, motion="pan", speed=2.0)


def test_flow_of_a_pan_is_the_camera_motion(pan: np.ndarray) -> None:
    # The camera moves +2 px right and +0.6 px down per frame: content moves the other way.
    flow = optical_flow(pan[1], pan[0])  # frame1(p) ~ frame0(p + flow)
    mask = occlusion_mask(flow, optical_flow(pan[0], pan[1]))
    assert mask.mean() > 0.8
    assert np.median(flow[..., 0][mask]) == pytest.approx(2.0, abs=0.3)
    assert np.median(flow[..., 1][mask]) == pytest.approx(0.6, abs=0.3)
    err = np.abs(warp(pan[0].astype(np.float32), flow) - pan[1])[mask].mean()
    assert err < 4.0  # grey levels: the warped previous frame lines up with the current one


def test_warping_error_is_zero_for_the_input_and_two_sigma_squared_for_noise(pan: np.ndarray) -> None:
    assert warping_error(pan, pan) < 2e-3
    # Whole-pixel steps (3 px right per frame): the warp moves pixels without interpolating, so
    # independent per-frame noise of std sigma differs by 2 sigma^2 between aligned pixels.
    photo = np.asarray(load_image(samples.path("astronaut")).resize((160, 64)))
    steps = np.stack([photo[:, 3 * t : 3 * t + 96] for t in range(5)])
    rng = np.random.default_rng(0)
    sigma = 0.1
    noisy = [(f / 255.0 + rng.normal(0, sigma, f.shape)).astype(np.float32) for f in steps]
    assert warping_error(noisy, steps) == pytest.approx(2 * sigma**2, rel=0.1)
    assert len(warping_errors(noisy, steps)) == len(steps) - 1


def test_warping_error_refuses_mismatched_clips(pan: np.ndarray) -> None:
    with pytest.raises(InputError, match="frames"):
        warping_error(pan[:3], pan)
    with pytest.raises(InputError, match="at least 2"):
        warping_error(pan[:1], pan[:1])

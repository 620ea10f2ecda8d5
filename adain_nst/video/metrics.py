"""Temporal consistency of a stylised clip: the warping error (Lai et al., ECCV 2018).

For each pair of consecutive frames the *input's* optical flow lines the previous *output* frame
up with the current one; the error is the mean squared RGB difference over the pixels the flow
can be trusted at (not occluded, forward-backward consistent):

    E_t = sum_p M_t(p) |O_t(p) - warp(O_{t-1})(p)|^2 / (3 sum_p M_t(p)),    E = mean_t E_t

with RGB in [0, 1]. Lower is steadier; a flicker-free stylisation of a clip whose flow is
exact scores ~0. The flow is DIS at its ``"medium"`` preset (the stabiliser uses ``"fast"``, so
the judge is not the exact flow it was steadied with).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .flow import FlowEstimator, occlusion_mask, warp


def _as_float(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return frame.astype(np.float32)


def warping_errors(
    outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray], *, preset: str = "medium"
) -> list[float]:
    """Per consecutive pair ``(t-1, t)``, the warping error of ``outputs`` under ``inputs``' flow.

    Args:
        outputs: the stylised frames, ``(H, W, 3)`` uint8 or float in [0, 1].
        inputs: the input frames they were made from (same count and size).
        preset: DIS preset of the flow (see :data:`adain_nst.video.flow.PRESETS`).

    Returns:
        ``len(outputs) - 1`` floats >= 0 (mean squared error per channel, RGB in [0, 1]); NaN for a
        pair with no trustworthy pixel.
    """
    if len(outputs) != len(inputs):
        raise InputError(f"{len(outputs)} output frames but {len(inputs)} input frames")
    if len(outputs) < 2:
        raise InputError("the warping error needs at least 2 frames")
    flow = FlowEstimator(preset)
    errors = []
    for t in range(1, len(outputs)):
        cur, prev = inputs[t], inputs[t - 1]
        if outputs[t].shape != cur.shape or outputs[t - 1].shape != prev.shape:
            raise InputError(f"frame {t}: outputs and inputs differ in size ({outputs[t].shape} vs {cur.shape})")
        back = flow(cur, prev)  # cur(p) ~ prev(p + back(p))
        fwd = flow(prev, cur)
        mask = occlusion_mask(back, fwd)
        n = int(mask.sum())
        if n == 0:
            errors.append(float("nan"))
            continue
        diff = _as_float(outputs[t]) - warp(_as_float(outputs[t - 1]), back)
        errors.append(float((diff[mask] ** 2).sum() / (3 * n)))
    return errors


def warping_error(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray], *, preset: str = "medium") -> float:
    """Mean of :func:`warping_errors` over the clip's consecutive pairs (pairs with no trusted pixel skipped)."""
    errs = [e for e in warping_errors(outputs, inputs, preset=preset) if not np.isnan(e)]
    if not errs:
        raise InputError("no pair of frames had a pixel the optical flow could be trusted at")
    return float(np.mean(errs))


__all__ = ["warping_error", "warping_errors"]

"""Optical flow between frames (OpenCV's DIS), backward warping and occlusion masks.

Conventions: frames are ``(H, W, 3)`` uint8 RGB or float arrays; a flow is ``(H, W, 2)``
float32 in pixels, ``(dx, dy)``, such that ``a[y, x] ~ b[y + dy, x + dx]`` for
``flow = optical_flow(a, b)``. :func:`warp` pulls ``b`` into ``a``'s frame along such a flow;
:func:`occlusion_mask` marks where that is trustworthy (forward-backward consistency, Sundaram
et al. 2010, with the thresholds Ruder et al. 2016 use for video style transfer).

OpenCV (``opencv-python-headless``) is an optional dependency (the ``video`` extra), imported
on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._deps import require
from ..errors import InputError

PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}
"""DIS presets by name (``cv2.DISOPTICAL_FLOW_PRESET_*``): speed against accuracy."""


def _gray(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` uint8 luma of an RGB frame (uint8, or float in [0, 1])."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frames must be (H, W, 3) RGB arrays, got shape {frame.shape}")
    f = frame.astype(np.float32)
    if frame.dtype != np.uint8:
        f = f * 255.0
    g = f @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(g + 0.5, 0, 255).astype(np.uint8)


class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016) with a fixed preset; reuse one for a whole clip.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (:data:`PRESETS`).
    """

    def __init__(self, preset: str = "medium") -> None:
        if preset not in PRESETS:
            raise InputError(f"flow preset must be one of {sorted(PRESETS)}, got {preset!r}")
        cv2 = require("cv2", "video")
        self.preset = preset
        self._dis: Any = cv2.DISOpticalFlow_create(PRESETS[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow ``(H, W, 2)`` float32 from frame ``a`` to frame ``b`` (same size): ``a(p) ~ b(p + flow(p))``."""
        if a.shape != b.shape:
            raise InputError(f"frames differ in size: {a.shape} and {b.shape}")
        ga, gb = a if a.ndim == 2 else _gray(a), b if b.ndim == 2 else _gray(b)
        return self._dis.calc(ga, gb, None)


def optical_flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow ``(H, W, 2)`` float32 (px) from ``a`` to ``b``: ``a[y, x] ~ b[y + dy, x + dx]`` (:class:`FlowEstimator`)."""
    return FlowEstimator(preset)(a, b)


def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """``image`` sampled at ``p + flow(p)`` (border pixels repeat): ``(H, W, C)`` in ``image``'s dtype.

    Bilinear, or bicubic with ``cubic`` (less blur when a frame is warped again and again, as the
    stabiliser does). With ``flow = optical_flow(a, b)``, ``warp(b_stylised, flow)`` lines ``b``'s
    stylisation up with ``a``.
    """
    cv2 = require("cv2", "video")
    mx, my = _grid(flow)
    mode = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return cv2.remap(image, mx, my, interpolation=mode, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: True where ``forward`` (a -> b) is trustworthy, False at occlusions.

    A pixel is kept when it lands inside ``b`` and the ``backward`` flow (b -> a) at its landing
    point brings it back: ``|f + b'|^2 <= 0.01 (|f|^2 + |b'|^2) + 0.5`` (px^2).
    """
    if forward.shape != backward.shape or forward.ndim != 3 or forward.shape[2] != 2:
        raise InputError(f"flows must be two (H, W, 2) arrays of one size, got {forward.shape} and {backward.shape}")
    h, w = forward.shape[:2]
    mx, my = _grid(forward)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    back = warp(backward, forward)
    total = forward + back
    lhs = (total**2).sum(-1)
    rhs = 0.01 * ((forward**2).sum(-1) + (back**2).sum(-1)) + 0.5
    return inside & (lhs <= rhs)


__all__ = ["PRESETS", "FlowEstimator", "occlusion_mask", "optical_flow", "warp"]

"""Video: stylise a clip frame by frame with temporal stabilisation, and measure its steadiness.

:func:`stylize_video` (also ``adain_nst.stylize_video`` and ``adain-nst video``) reads any
container PyAV reads and writes H.264 atomically, keeping frame count, rate, size and audio;
:mod:`.stabilize` smooths the content statistics across frames and blends along the optical flow;
:func:`warping_error` (:mod:`.metrics`) measures temporal consistency. PyAV and OpenCV come with
the ``video`` extra and are imported on first use only.
"""

from .api import DEFAULT_BATCH, VideoResult, stylize_video
from .flow import FlowEstimator, occlusion_mask, optical_flow, warp
from .io import VideoInfo, VideoReader, VideoWriter, probe
from .metrics import warping_error, warping_errors
from .stabilize import DEFAULT_STABILIZE, STABILIZE_MODES, FrameStylizer

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_STABILIZE",
    "STABILIZE_MODES",
    "FlowEstimator",
    "FrameStylizer",
    "VideoInfo",
    "VideoReader",
    "VideoResult",
    "VideoWriter",
    "occlusion_mask",
    "optical_flow",
    "probe",
    "stylize_video",
    "warp",
    "warping_error",
    "warping_errors",
]

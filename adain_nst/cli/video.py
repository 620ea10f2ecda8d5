"""``adain-nst video``: stylise a video file (the ``video`` extra: PyAV and OpenCV).

Exit status: 0 written; 2 a bad option or input (missing file, not a video, missing extra),
nothing written (the output is written to a temporary file and renamed at the end).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._checks import check_alpha
from ..engine.runtime import resolve_device, resolve_dtype
from ..errors import InputError
from ._options import EXIT_OK, add_model_options, check_model_args, floats, load_model, positive_int
from .stylize import DTYPE_CHOICES, add_cascade_options, cascade_options

STABILIZE_CHOICES = ("none", "stats", "flow")  # adain_nst.video.STABILIZE_MODES (imported when the command runs)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``video`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "video",
        help="stylise a video file (H.264 out; frame rate, size and audio kept)",
        description=(
            "Stylise every frame of IN with STYLE (several styles are interpolated, see --style-weights) and "
            "write OUT as H.264 (.mp4, .m4v, .mov or .mkv), keeping the frame count, frame rate, size and "
            "the audio track. Temporal stabilisation (--stabilize) is on by default, see docs/video.md. "
            'Needs the video extra: pip install "adain-nst[video]".'
        ),
    )
    p.add_argument("input", help="input video file (any container and codec FFmpeg reads)")
    p.add_argument("style", nargs="+", help="style image file(s)")
    p.add_argument("-o", "--out", required=True, help="output video file (.mp4, .m4v, .mov or .mkv)")
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    add_cascade_options(p)
    p.add_argument(
        "--stabilize",
        choices=STABILIZE_CHOICES,
        default=None,
        help="none: every frame alone; stats: content statistics smoothed across frames; flow (default): "
        "stats plus a blend with the previous output along the optical flow, where it is not occluded",
    )
    p.add_argument("--momentum", type=float, default=None, help="EMA weight of past statistics in [0, 1) (default 0.9)")
    p.add_argument(
        "--blend", type=float, default=None, help="weight of the warped previous output in [0, 1) (default 0.3)"
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="frames per network pass (default 8)")
    p.add_argument("--style-weights", type=floats, help="interpolation weights, one per style, e.g. 0.3,0.7")
    p.add_argument(
        "--preserve-color",
        choices=("coral", "luminance"),
        help="keep the content's colours (coral: the style recoloured once, to the first frame)",
    )
    p.add_argument("--content-size", type=int, help="resize frames so their shorter side is this many px")
    p.add_argument("--style-size", type=int, help="resize styles so their shorter side is this many px")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51 (default 18)")
    p.add_argument("--no-audio", action="store_true", help="drop the audio track")
    p.add_argument("--dtype", choices=DTYPE_CHOICES, default=None, help="precision (as for stylize)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Stylise the video ``args`` name; returns the exit status (0)."""
    from .. import video  # the video extra's code, only for this command

    alpha = check_alpha(args.alpha)
    check_model_args(args)
    video.io.check_output_path(args.out)
    video.probe(args.input)  # a missing file or a non-video fails before the model loads
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    model = load_model(args, device)
    extra: dict[str, Any] = {}
    if args.momentum is not None:
        extra["momentum"] = args.momentum
    if args.blend is not None:
        extra["blend"] = args.blend
    if args.stabilize == "none" and extra:
        raise InputError("--momentum and --blend apply to --stabilize stats/flow, not none")
    result = video.stylize_video(
        args.input,
        args.style,
        args.out,
        alpha,
        model=model,
        dtype=dtype,
        content_size=args.content_size,
        style_size=args.style_size,
        style_weights=args.style_weights,
        preserve_color=args.preserve_color,
        stabilize=args.stabilize,
        batch_size=args.batch_size,
        audio=not args.no_audio,
        crf=args.crf,
        progress=False if (args.no_progress or args.json) else None,
        **cascade_options(args, model),
        **extra,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(
            f"wrote {result.path}: {result.frames} frames at {float(result.fps):.3g} fps, "
            f"{result.width}x{result.height}{', audio kept' if result.audio else ''}, "
            f"{result.frames_per_second:.2f} frames/s ({result.dtype})"
        )
    return EXIT_OK


__all__ = ["STABILIZE_CHOICES", "add_parser", "run"]

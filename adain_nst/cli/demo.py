"""``adain-nst demo``: stylise the bundled sample photos with the bundled paintings (no files needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import samples
from .._checks import check_alpha
from ..engine.runtime import resolve_device, resolve_dtype
from ._options import add_model_options, check_image_suffix, load_model
from .stylize import DTYPE_CHOICES, Job, add_cascade_options, cascade_options, execute


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``demo`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "demo",
        help="stylise the bundled sample photos with the bundled paintings",
        description=(
            "Stylise the sample photos shipped with the package (public domain / CC0) with the sample "
            "paintings, writing OUT/<photo>_<painting>.<ext>. Works offline right after installation. "
            f"Photos: {', '.join(samples.names('content'))}. Paintings: {', '.join(samples.names('style'))}."
        ),
    )
    p.add_argument("-o", "--out", default="adain-nst-demo", help="output folder (default ./adain-nst-demo)")
    p.add_argument("--content", nargs="+", metavar="NAME", help="sample photo(s) (default: all)")
    p.add_argument("--style", nargs="+", metavar="NAME", help="sample painting(s) (default: all)")
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    add_cascade_options(p)
    p.add_argument("--preserve-color", choices=("coral", "luminance"), help="keep the photo's colours")
    p.add_argument("--ext", default="jpg", help="output format (default jpg)")
    p.add_argument("--dtype", choices=DTYPE_CHOICES, default=None, help="precision (default float32)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Stylise every chosen photo x painting pair; returns the exit status."""
    alpha = check_alpha(args.alpha)
    contents = [samples.path(n) for n in (args.content or samples.names("content"))]
    styles = [samples.path(n) for n in (args.style or samples.names("style"))]
    ext = args.ext.lstrip(".")
    check_image_suffix(f"x.{ext}", "--ext")
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    out = Path(args.out)
    jobs = [Job(c, [s], out / f"{c.stem}_{s.stem}.{ext}") for c in contents for s in styles]
    model = load_model(args, device)
    options = {"preserve_color": args.preserve_color, "dtype": dtype, **cascade_options(args, model)}
    return execute(jobs, model, alpha, options, keep_going=True, as_json=args.json, out_label=str(out))


__all__ = ["add_parser", "run"]

"""``adain-nst serve``: the web app on this machine (Gradio, the ``web`` extra), bound to 127.0.0.1 by default.

The web subpackage (and Gradio) is imported only when the command runs, so ``adain-nst --help``
and the other commands never load it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import InputError
from ._options import add_device_option, positive_int

DEFAULT_MAX_UPLOAD_MB = 10  # adain_nst.web.handlers.MAX_UPLOAD_MB (not imported here: the web code loads on run)
WEB_EXTRA_HINT = 'the web app needs the web extra: pip install "adain-nst[web]"'


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``serve`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "serve",
        help="start the web app (upload a photo, pick a painting, stylise in the browser)",
        description=(
            "Serve the web app: upload or pick a photo, pick bundled paintings or upload your own, "
            "preview and render at full size in the browser. Offline, on the bundled models. "
            "Binds to 127.0.0.1 (this machine only) unless --host says otherwise. "
            'Needs the web extra: pip install "adain-nst[web]". See docs/web.md.'
        ),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 serves every interface)"
    )
    p.add_argument("--port", type=positive_int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="MB",
        help=f"largest upload accepted, in MB (default {DEFAULT_MAX_UPLOAD_MB})",
    )
    add_device_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; returns the exit status."""
    if not args.max_upload_mb > 0:
        raise InputError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    try:
        from ..web import app
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in {"gradio", "gradio_client"}:
            raise InputError(WEB_EXTRA_HINT) from exc
        raise
    demo, url = app.serve(args.host, args.port, device=args.device, max_upload_mb=args.max_upload_mb, block=False)
    print(f"adain-nst web app: {url} (Ctrl-C stops it)", flush=True)
    try:
        while True:  # Ctrl-C / SIGTERM end it through the CLI's handlers (exit 130 / 143)
            time.sleep(0.5)
    finally:
        demo.close()


__all__ = ["DEFAULT_MAX_UPLOAD_MB", "WEB_EXTRA_HINT", "add_parser", "run"]

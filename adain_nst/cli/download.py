"""``adain-nst download``: fetch and verify a pretrained model into the Hugging Face cache."""

from __future__ import annotations

import argparse
from typing import Any

from ..pretrained.hub import download
from ._options import EXIT_OK


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``download`` and its options on the subparsers ``sub``."""
    p = sub.add_parser("download", help="fetch and verify a pretrained model into the Hugging Face cache")
    p.add_argument("name", help="registered model name or Hub repo id (org/name[@revision])")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: the registered commit)")
    p.add_argument("--cache-dir", help="Hugging Face cache folder (default: HF_HUB_CACHE)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--token", help="Hub token for private repositories (default: HF_TOKEN or the stored login)")
    return p


def run(args: argparse.Namespace) -> int:
    """Download, then print the folder that holds the model's files; returns the exit status."""
    folder = download(
        args.name, revision=args.revision, cache_dir=args.cache_dir, force_download=args.force, token=args.token
    )
    print(folder)
    return EXIT_OK


__all__ = ["add_parser", "run"]

"""``adain-nst stylize-dataset``: stylise a folder tree, resumably (over :func:`adain_nst.stylize_dataset`).

Run it again with the same options to resume. Several processes:
``torchrun --nproc-per-node N -m adain_nst stylize-dataset ...``; a Ray cluster: ``--backend ray``.
Exit status: 0 every input written; 2 a bad option, nothing done; 3 some inputs failed (named on
stderr and in ``DST/errors.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..dataset import BACKENDS, FORMATS, stylize_dataset
from ..nn.transforms import TRANSFORMS
from ._options import EXIT_OK, EXIT_SOME_FAILED
from .stylize import DTYPE_CHOICES, level_list


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``stylize-dataset`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "stylize-dataset",
        help="stylise every image under SRC into DST (same relative paths), seeded and resumable",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="folder of content images (walked recursively)")
    p.add_argument("dst", metavar="DST", help="output folder (also holds manifest.jsonl and errors.jsonl)")
    p.add_argument("--styles", required=True, metavar="STYLE_DIR", help="folder of style images (recursive)")
    p.add_argument("--styles-per-image", type=int, default=1, metavar="N", help="outputs per image, each another style")
    p.add_argument("--seed", type=int, default=0, help="decides each image's styles with its relative path (default 0)")
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    p.add_argument("--transform", choices=sorted(TRANSFORMS), help="feature transform (default: the model's)")
    p.add_argument("--levels", type=level_list, help="layer names coarse to fine, e.g. relu5_1,relu4_1")
    p.add_argument("--model", help="registry name, Hub repo or folder (default: the bundled family)")
    p.add_argument("--content-size", type=int, metavar="PX", help="shorter side of the contents, px (default: as is)")
    p.add_argument("--style-size", type=int, metavar="PX", help="shorter side of the styles, px (default: as is)")
    p.add_argument("--batch-size", type=int, default=8, help="same-size images computed together (default 8)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes decoding images (default 0)")
    p.add_argument(
        "--streams",
        type=int,
        metavar="K",
        help="batches computed at once, sharing the threads (default: 2 on a CPU for images up to 1 MP, else 1)",
    )
    p.add_argument("--format", choices=FORMATS, help="convert outputs to this format (default: keep each input's)")
    p.add_argument("--dtype", choices=DTYPE_CHOICES, help="precision (default float32; auto: bf16 where native)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="local (or torchrun ranks) or ray")
    p.add_argument("--ray-address", help="a Ray cluster's address (default: start a local one)")
    p.add_argument("--retry-failed", action="store_true", help="on resume, try the inputs that failed before again")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the job; print a summary (rank 0 only); returns 0, or 3 if some inputs failed."""
    result = stylize_dataset(
        args.src,
        args.dst,
        args.styles,
        styles_per_image=args.styles_per_image,
        seed=args.seed,
        alpha=args.alpha,
        transform=args.transform,
        levels=args.levels,
        model=args.model,
        content_size=args.content_size,
        style_size=args.style_size,
        batch_size=args.batch_size,
        workers=args.workers,
        streams=args.streams,
        fmt=args.format,
        dtype=args.dtype,
        device=args.device,
        backend=args.backend,
        ray_address=args.ray_address,
        retry_failed=args.retry_failed,
    )
    if result.rank:
        return EXIT_OK
    for f in result.failed:
        print(f"error: {f['content']}: {f['error']}", file=sys.stderr)
    summary = {
        "dst": str(result.dst),
        "outputs": result.outputs,
        "computed": result.computed,
        "skipped": result.skipped,
        "failed": result.failed,
        "seconds": round(result.seconds, 3),
        "images_per_second": round(result.images_per_second, 3),
        "dtype": result.dtype,
        "processes": result.world_size,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        tail = f"; {len(result.failed)} input(s) failed (see {result.dst}/errors.jsonl)" if result.failed else ""
        print(
            f"{result.outputs} outputs in {result.dst} ({result.computed} computed, {result.skipped} already done, "
            f"{result.images_per_second:.2f} images/s){tail}"
        )
    return EXIT_SOME_FAILED if result.failed else EXIT_OK


__all__ = ["add_parser", "run"]

"""Copy the images the GPU checks need into ``.gpu-data/`` (git-ignored), for the device tool to carry.

    python tools/gpu_data.py [--shared ../shared] [--contents 200] [--styles 40]

A lent GPU machine gets the working tree and the paths named in ``carry``, not ``../shared``
beside it. ``benchmarks/gpu_checks.sh`` reads this folder as ``ADAIN_NST_TEST_DATA``: the first
``--contents`` photos and ``--styles`` paintings of ``data/train`` (sorted by name, as
``benchmarks/dataset.py`` takes them), ~19 MB for the defaults.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shared", type=Path, default=Path("../shared"))
    p.add_argument("--contents", type=int, default=200)
    p.add_argument("--styles", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path(".gpu-data"))
    args = p.parse_args(argv)
    for kind, n in (("content", args.contents), ("style", args.styles)):
        src = args.shared / "data" / "train" / kind
        if not src.is_dir():
            print(f"error: {src} not found; pass --shared DIR (the folder holding data/train)", file=sys.stderr)
            return 2
        dst = args.out / "data" / "train" / kind
        shutil.rmtree(dst, ignore_errors=True)
        dst.mkdir(parents=True)
        for path in sorted(src.iterdir())[:n]:
            shutil.copy(path, dst / path.name)
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{args.out}: {args.contents} photos, {args.styles} paintings, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

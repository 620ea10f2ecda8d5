"""Stylisation speed: the library's engine against a pytorch-AdaIN-structured reference.

Latency (median, IQR, n), throughput, GFLOP/s, peak memory and the precision that ran for
the full-size and cd16x models, style encoded every call vs cached, batch sizes, dtypes,
channels_last, torch.compile, CPU and CUDA. Writes a JSON report and markdown tables; the
logic lives in :mod:`adain_nst.bench` (also ``adain-nst bench``). Results: ``docs/benchmarks.md``.

    python benchmarks/speed.py --quick                      # < 3 min on 2 cores
    python benchmarks/speed.py --json full.json --markdown full.md
    python benchmarks/speed.py --compare before.json after.json

cd16x uses the real weights of ``--cd16x-dir`` (default: ``../shared/weights/cd16x`` beside
the repository, when that folder exists), else random weights of the same widths (speed does
not depend on the values); ``--quality`` uses the photos of ``--eval-dir`` (default:
``../shared/data/eval`` when it exists).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adain_nst.bench import DESCRIPTION, add_arguments, run_from_args

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    add_arguments(parser)
    defaults = {"cd16x_dir": SHARED / "weights" / "cd16x", "eval_dir": SHARED / "data" / "eval"}
    parser.set_defaults(**{k: str(v) for k, v in defaults.items() if v.is_dir()})
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Stylisation speed: the library's engine against a pytorch-AdaIN-structured reference.

Latency (median, IQR, n), throughput, GFLOP/s, peak memory for the full-size and cd16x
models, style encoded every call vs cached, batch sizes, dtypes, channels_last,
torch.compile, CPU and CUDA. Writes a JSON report and markdown tables; the logic lives in
:mod:`adain_nst.bench` (also ``adain-nst bench``). Results: ``docs/benchmarks.md``.

    python benchmarks/speed.py --quick                      # < 3 min on 2 cores
    python benchmarks/speed.py --json full.json --markdown full.md
    python benchmarks/speed.py --compare before.json after.json

cd16x uses the real weights from ``$ADAIN_NST_TEST_DATA/weights/cd16x`` when set, else
random weights of the same widths (speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import sys

from adain_nst.bench import add_arguments, run_from_args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())

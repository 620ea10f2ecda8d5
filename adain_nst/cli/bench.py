"""``adain-nst bench``: the speed benchmark (same as ``benchmarks/speed.py``); options from :mod:`adain_nst.bench`."""

from __future__ import annotations

import argparse
from typing import Any

from ..bench import add_arguments, run_from_args


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``bench`` on the subparsers ``sub``; the options are the benchmark's own."""
    p = sub.add_parser(
        "bench",
        help="time stylisation: the library's engine vs a pytorch-AdaIN-style reference",
        description=(
            "Speed benchmark (same as benchmarks/speed.py): latency, throughput, GFLOP/s and peak memory "
            "for the full-size and cd16x models; writes a JSON report and markdown tables."
        ),
    )
    add_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the benchmark the options describe; returns its exit status."""
    return int(run_from_args(args))


__all__ = ["add_parser", "run"]

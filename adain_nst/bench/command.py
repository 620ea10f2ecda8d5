"""The command line of the speed benchmark: ``adain-nst bench`` and ``benchmarks/speed.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace

import torch

from .cases import GROUPS, BenchConfig, default_cases, select_cases
from .quality import quality_report
from .report import compare_reports, merge_reports, read_report, write_json, write_report
from .run import MODELS, run_benchmark

DESCRIPTION = "Speed benchmark of AdaIN stylisation: the library's engine against a pytorch-AdaIN-shaped reference."


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``benchmarks/speed.py`` / ``adain-nst bench``."""
    p.add_argument("--quick", action="store_true", help="256 and 512 px only, no compile (< 3 min on 2 cores)")
    p.add_argument("--sizes", type=int, nargs="+", help="content/style sides in px (default 256 512 1024 2048)")
    p.add_argument("--models", nargs="+", choices=MODELS, help="default: both")
    p.add_argument("--cd16x-dir", help="folder with the cd16x e4.pth and d4.pth (default: random cd16x-width weights)")
    p.add_argument("--eval-dir", help="eval images (content/, style/) for --quality (default: smooth noise)")
    p.add_argument("--device", nargs="+", help="cpu, cuda ... (default: cpu, and cuda when available)")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes of the batch table (default 1 4 8)")
    p.add_argument("--batch-px", type=int, nargs="+", help="image sides of the batch table (default 256 512)")
    p.add_argument("--compile-px", type=int, nargs="+", help="image sides of the compile table (default 256 512)")
    p.add_argument("--dtype-px", type=int, help="image side of the dtype table (default 512; --quick 256)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    p.add_argument("--min-runs", type=int, default=None, help="timed calls per case, at least (default 3)")
    p.add_argument("--json", default="speed.json", help="write the full report here (default speed.json)")
    p.add_argument("--markdown", default="speed.md", help="write the tables here (default speed.md)")
    p.add_argument("--note", default="", help="free text stored in the report (e.g. what else was running)")
    p.add_argument("--groups", nargs="+", choices=GROUPS, help="run only these tables (default: all)")
    p.add_argument("--impl", choices=("reference", "engine"), help="run only this implementation's cases")
    p.add_argument("--style", choices=("every", "cached"), help="run only cases with the style encoded so")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed calls before timing, at least 1 (the first call; default 1)"
    )
    p.add_argument(
        "--retries", type=int, default=0, help="re-run a CPU case up to N times while cpu_util < 0.9 (busy machine)"
    )
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print B/A ratios of two reports and exit")
    p.add_argument(
        "--quality", action="store_true", help="also measure the PSNR of bf16 (and fp16 on CUDA) output vs float32"
    )
    p.add_argument(
        "--merge", nargs="+", metavar="REPORT.json", help="merge reports (later wins) into --json/--markdown"
    )


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` that :func:`add_arguments`' options describe."""
    devices = tuple(args.device) if args.device else ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    cfg = BenchConfig(
        quick=args.quick,
        devices=devices,
        threads=args.threads,
        compile=not args.no_compile,
        note=args.note,
        retries=args.retries,
        cd16x_dir=args.cd16x_dir,
        eval_dir=args.eval_dir,
    )
    if args.quick:
        quick = {"min_time": 0.5, "max_time": 6.0, "max_runs": 5, "ablation_size": 256, "dtype_size": 256}
        cfg = replace(cfg, **quick, batch_px=(256,), batches=(1, 4))
    overrides = {
        "sizes": args.sizes,
        "models": args.models,
        "batches": args.batches,
        "batch_px": args.batch_px,
        "compile_sizes": args.compile_px,
    }
    for name, value in overrides.items():
        if value:
            setattr(cfg, name, tuple(value))
    if args.min_runs:
        cfg.min_runs = args.min_runs
    if args.dtype_px:
        cfg.dtype_size = args.dtype_px
    if args.warmup is not None:
        cfg.warmup = args.warmup
    return cfg


def run_from_args(args: argparse.Namespace) -> int:
    """Run what :func:`add_arguments`' options ask (compare, merge or a benchmark run); returns the exit status."""
    if args.compare:
        a, b = (read_report(p) for p in args.compare)
        sys.stdout.write(compare_reports(a, b))
        return 0
    if args.merge:
        report = merge_reports([read_report(p) for p in args.merge])
    else:
        cfg = config_from_args(args)
        cases = select_cases(default_cases(cfg), groups=args.groups, impl=args.impl, style=args.style)
        report = run_benchmark(
            cfg, cases, log=lambda s: print(s, flush=True), checkpoint=lambda r: write_json(r, args.json)
        )
        if args.quality:
            report["quality"] = quality_report(cfg.models, cfg.devices, cd16x_dir=cfg.cd16x_dir, eval_dir=cfg.eval_dir)
    print(write_report(report, args.json, args.markdown))
    print(f"wrote {args.json} and {args.markdown}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adain_nst.bench``: the same as ``benchmarks/speed.py``."""
    p = argparse.ArgumentParser(description=DESCRIPTION)
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


__all__ = ["DESCRIPTION", "add_arguments", "config_from_args", "main", "run_from_args"]

"""Speed benchmark of AdaIN stylisation: the library's engine against a reference baseline.

An application layer on top of the library (used by ``adain-nst bench`` and
``benchmarks/speed.py``; nothing else in :mod:`adain_nst` imports it):

* :mod:`.cases`: what runs (:class:`Case`, :class:`BenchConfig`, :func:`default_cases`, the groups);
* :mod:`.measure`: how it is timed (:func:`measure`, :class:`PeakMemory`, :func:`machine_info`);
* :mod:`.flops`: conv FLOPs of a call, from the architecture plan (:func:`stylize_flops`);
* :mod:`.run`: the models, one case, the whole run (:func:`run_case`, :func:`run_benchmark`);
* :mod:`.quality`: PSNR of bf16/fp16 output against float32 (:func:`dtype_quality`);
* :mod:`.report`: markdown tables, ``--compare``, ``--merge``, writing JSON and markdown;
* :mod:`.command`: the command-line options (:func:`add_arguments`, :func:`run_from_args`, :func:`main`).

Every case reports latency (median, interquartile range, number of timed calls), images per
second, the process CPU time per call (``cpu_util`` close to 1 on an idle machine), peak
memory, achieved GFLOP/s and the precision that ran.
"""

from .cases import ABLATIONS, GROUPS, REF, BenchConfig, Case, case_id, default_cases, result_key, select_cases
from .command import DESCRIPTION, add_arguments, config_from_args, main, run_from_args
from .flops import stylize_costs, stylize_flops
from .measure import PeakMemory, Timing, machine_info, measure
from .quality import dtype_quality, eval_pairs, psnr, quality_report
from .report import compare_reports, markdown_report, merge_reports, read_report, write_json, write_report
from .run import Result, build_model, run_benchmark, run_case

__all__ = [
    "ABLATIONS",
    "DESCRIPTION",
    "GROUPS",
    "REF",
    "BenchConfig",
    "Case",
    "PeakMemory",
    "Result",
    "Timing",
    "add_arguments",
    "build_model",
    "case_id",
    "compare_reports",
    "config_from_args",
    "default_cases",
    "dtype_quality",
    "eval_pairs",
    "machine_info",
    "main",
    "markdown_report",
    "measure",
    "merge_reports",
    "psnr",
    "quality_report",
    "read_report",
    "result_key",
    "run_benchmark",
    "run_case",
    "run_from_args",
    "select_cases",
    "stylize_costs",
    "stylize_flops",
    "write_json",
    "write_report",
]

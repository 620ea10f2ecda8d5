"""``adain-nst export-onnx``: the AdaIN model as an ONNX graph, for torch-free deployment (the ``onnx`` extra).

Exit status: 0 written; 2 a bad option (e.g. ``--transform wct`` without ``--split``, which
says why), a missing extra or an unreadable model, nothing written.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from ._options import EXIT_OK, check_model_args, load_model, positive_int
from .stylize import TRANSFORMS, level_list

EXPORTER_CHOICES = ("auto", "dynamo", "torchscript")  # adain_nst.export.EXPORTERS (imported when the command runs)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``export-onnx`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "export-onnx",
        help="export the AdaIN model to ONNX (onnxruntime, no torch needed to run it)",
        description=(
            "Write the AdaIN model as one ONNX graph (inputs content, style, alpha; dynamic batch, height and "
            "width) and the torch-free runner adain_onnx_runner.py beside it. WCT and EFDM cannot be one graph: "
            "with --split, OUT is a folder of per-level encoder and decoder graphs and the runner computes the "
            'transform in numpy. See docs/onnx.md. Needs the onnx extra: pip install "adain-nst[onnx]".'
        ),
    )
    p.add_argument("out", help="the .onnx file to write (a folder with --split)")
    p.add_argument(
        "--model", help="model family or registered model name, Hub repo id or local folder (default: cd16x)"
    )
    p.add_argument("--encoder", help="encoder checkpoint file; use with --decoder")
    p.add_argument("--decoder", help="decoder checkpoint file; use with --encoder")
    p.add_argument("--transform", choices=sorted(TRANSFORMS), default="adain", help="feature transform (default adain)")
    p.add_argument(
        "--levels",
        type=level_list,
        default=None,
        help="levels coarse to fine, e.g. relu5_1,relu4_1 (default relu4_1: the AdaIN paper's single pass)",
    )
    p.add_argument("--split", action="store_true", help="per-level encoder and decoder graphs in the folder OUT")
    p.add_argument(
        "--exporter",
        choices=EXPORTER_CHOICES,
        default="auto",
        help="PyTorch exporter (default auto: dynamo for one level, torchscript for several or --split)",
    )
    p.add_argument("--opset", type=positive_int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--no-check", action="store_true", help="skip onnx.checker")
    p.add_argument("--no-runner", action="store_true", help="do not write adain_onnx_runner.py")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    return p


def run(args: argparse.Namespace) -> int:
    """Export what ``args`` name; returns the exit status (0)."""
    from ..export import export_onnx  # the onnx extra's code, only for this command

    args.no_pairing_check = False
    check_model_args(args)
    model = load_model(args, torch.device("cpu"))
    result = export_onnx(
        args.out,
        model,
        args.transform,
        tuple(args.levels) if args.levels else ("relu4_1",),
        split=args.split,
        exporter=args.exporter,
        opset=args.opset,
        check=not args.no_check,
        runner=not args.no_runner,
    )
    summary = {
        "output": str(result.path),
        "files": [str(f) for f in result.files],
        "transform": result.transform,
        "levels": list(result.levels),
        "split": result.split,
        "min_side": result.min_side,
        "exporter": result.exporter,
        "opset": result.opset,
        "dtype": "float32",
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {result.path} ({result.transform}, levels {','.join(result.levels)}; {len(result.files)} files)")
    return EXIT_OK


__all__ = ["EXPORTER_CHOICES", "add_parser", "run"]

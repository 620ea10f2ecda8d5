"""Seconds per L-BFGS step of :func:`adain_nst.optimization.gatys`, per encoder, size and device.

Encoders (each with its family's default optimiser, see ``docs/gatys.md``):

* ``vgg19-imagenet``: the bundled ImageNet VGG-19, the default of :func:`adain_nst.gatys`;
* ``vgg19``: the full-size normalised VGG-19 to relu5_1. Its real weights are not needed
  for timing: random weights of the right shapes are used unless ``--vgg19`` names a
  ``vgg_normalised.pth`` (pytorch-AdaIN layout).
* ``cd16x``: the cd16x e5 encoder from ``$ADAIN_NST_TEST_DATA/weights/cd16x/e5.pth``
  (skipped, and said so, when the variable is unset).

Each case runs ``--warmup + --steps`` L-BFGS steps on the golden_gate / la_muse eval pair
(random smooth images without the shared data) with the encoder family's default weights,
and reports the median and interquartile range of the per-step wall time after the warm-up,
plus encoder passes per step (the strong-Wolfe line search sometimes evaluates more than
once) and seconds per pass. CUDA times are synchronised per step.

    python benchmarks/gatys_speed.py --sizes 256 512 --json out/gatys_speed.json --markdown out/gatys_speed.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from adain_nst import EncoderConfig, VGGEncoder
from adain_nst.bench.measure import machine_info
from adain_nst.image import resize_shorter, to_tensor
from adain_nst.optimization import gatys


def _shared() -> Path | None:
    root = os.environ.get("ADAIN_NST_TEST_DATA")
    return Path(root) if root else None


def machine(note: str | None) -> dict[str, Any]:
    """What the numbers were measured on (``adain_nst.bench.measure.machine_info``), plus ``note``."""
    return {**machine_info(), "note": note}


def _encoder(name: str, args: argparse.Namespace) -> VGGEncoder | None:
    if name == "vgg19-imagenet":  # the bundled 8-bit ImageNet VGG-19: the default of gatys()
        return VGGEncoder.from_pretrained("vgg19-imagenet").eval().requires_grad_(False)
    if name == "vgg19":
        if args.vgg19:
            return VGGEncoder.from_reference_checkpoint(args.vgg19, last_layer="relu5_1")
        torch.manual_seed(0)
        enc = VGGEncoder(EncoderConfig(widths=(64, 128, 256, 512, 512), last_layer="relu5_1"))
        # He init keeps activations O(1) through 13 convs, closer to a trained network than
        # PyTorch's default init (whose features shrink layer by layer).
        for conv in [enc.conv0, *enc.convs.values()]:
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            torch.nn.init.zeros_(conv.bias)
        return enc.eval().requires_grad_(False)
    root = _shared()
    path = root / "weights" / "cd16x" / "e5.pth" if root else None
    if path is None or not path.is_file():
        print(f"skipping cd16x: {path or 'ADAIN_NST_TEST_DATA is unset'}", file=sys.stderr)
        return None
    return VGGEncoder.from_cd16x_checkpoint(path, last_layer="relu5_1")


def _pair(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    root = _shared()
    if root and (root / "data" / "eval").is_dir():
        ev = root / "data" / "eval"
        content = to_tensor(ev / "content" / "golden_gate.jpg")[0]
        style = to_tensor(ev / "style" / "la_muse.jpg")[0]
    else:
        g = torch.Generator().manual_seed(0)
        content = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(size, size * 4 // 3))
        style = torch.rand(1, 3, size, size, generator=g)
    return resize_shorter(content, size), resize_shorter(style, size)


def time_case(encoder: VGGEncoder, device: str, size: int, steps: int, warmup: int) -> dict[str, Any]:
    """Run one case; per-step wall times come from the callback's timestamps."""
    enc = encoder.to(device)
    content, style = (x.to(device) for x in _pair(size))
    passes = [0]
    hook = enc.register_forward_pre_hook(lambda m, a: passes.__setitem__(0, passes[0] + 1))
    stamps: list[float] = []
    counts: list[int] = []
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def callback(step: int, losses: dict[str, float]) -> None:
        sync()
        stamps.append(time.perf_counter())
        counts.append(passes[0])

    try:
        sync()
        start = time.perf_counter()
        gatys(content, style, encoder=enc, steps=warmup + steps, progress=False, callback=callback)
    finally:
        hook.remove()
    # The callback for step k fires during step k + 1's first evaluation (or after one extra
    # forward for the last step), so consecutive stamps are one step apart.
    times = [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=True)][warmup:]
    evals = [b - a for a, b in zip([0, *counts[:-1]], counts, strict=True)][warmup:]
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    median = statistics.median(times)
    per_step_passes = sum(evals) / len(evals)
    return {
        "size": size,
        "shape": list(content.shape[-2:]),
        "device": device,
        "steps_timed": len(times),
        "sec_per_step_median": round(median, 4),
        "sec_per_step_iqr": [round(q[0], 4), round(q[2], 4)],
        "encoder_passes_per_step": round(per_step_passes, 2),
        "sec_per_pass": round(sum(times) / max(1, sum(evals)), 4),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    result: dict[str, Any] = {"machine": machine(args.note), "cases": []}
    for name in args.encoders:
        encoder = _encoder(name, args)
        if encoder is None:
            continue
        for device in devices:
            for size in args.sizes:
                case = {"encoder": name, **time_case(encoder, device, size, args.steps, args.warmup)}
                print(json.dumps(case), flush=True)
                result["cases"].append(case)
    result["machine"]["load_average_after"] = (
        [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    )
    return result


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Machine: {m['cpu']} ({m['logical_cpus']} logical CPUs, torch threads {m['torch_threads']}), "
        f"GPU: {m['gpu'] or 'none'}; torch {m['torch']}; commit {str(m['git_commit'])[:7]}.",
    ]
    if m.get("note"):
        lines.append(f"Note: {m['note']}")
    lines += [
        "",
        "| encoder | device | image (HxW) | s / step (median) | IQR | encoder passes / step | s / pass |",
        "| --- | --- | --- | ---: | --- | ---: | ---: |",
    ]
    for c in result["cases"]:
        h, w = c["shape"]
        lines.append(
            f"| {c['encoder']} | {c['device']} | {h}x{w} | {c['sec_per_step_median']:.3f} | "
            f"{c['sec_per_step_iqr'][0]:.3f}-{c['sec_per_step_iqr'][1]:.3f} | {c['encoder_passes_per_step']:.2f} | "
            f"{c['sec_per_pass']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="content shorter sides, px")
    p.add_argument(
        "--encoders",
        nargs="+",
        default=["vgg19-imagenet", "cd16x"],
        choices=["vgg19-imagenet", "vgg19", "cd16x"],
        help="vgg19-imagenet (the bundled default, L-BFGS without a line search), vgg19 (random normalised "
        "VGG-19), cd16x (e5, with the line search)",
    )
    p.add_argument("--steps", type=int, default=10, help="timed L-BFGS steps per case")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--cpu-only", action="store_true", help="skip CUDA even if present")
    p.add_argument("--vgg19", help="real vgg_normalised.pth instead of random weights (same speed)")
    p.add_argument("--note", help="free text stored with the machine info, e.g. other jobs running")
    p.add_argument("--json", help="write the full result here")
    p.add_argument("--markdown", help="write a Markdown table here")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")
    result = run(args)
    table = markdown(result)
    print(table)
    for path, text in ((args.json, json.dumps(result, indent=2) + "\n"), (args.markdown, table)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

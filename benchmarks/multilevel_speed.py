"""Speed of multi-level stylisation against the single-level paths and the pytorch-AdaIN reference.

    python benchmarks/multilevel_speed.py [--size 512] [--json out.json]

Times, in one run on this machine (float32, style encoded every call, tensors in and out):

* the reference: a pytorch-AdaIN-shaped full VGG-19 (``nn.reference.ReferenceAdaIN``, random
  weights of the full widths: speed does not depend on values) at relu4_1;
* the single-level cd16x model (``levels=("relu4_1",)``, our AdaIN decoder);
* the bundled family's default look and each transform over 5-4-3-2-1 and 4-3-2-1;
* for WCT, the time spent in the covariance eigendecompositions (``wct_matrix``) and its share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import torch

import adain_nst
from adain_nst import AdaINModel, Decoder, DecoderConfig, EncoderConfig, VGGEncoder
from adain_nst.bench.measure import machine_info, measure, sync
from adain_nst.nn import transforms
from adain_nst.nn.reference import ReferenceAdaIN

ALL = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
FOUR = ALL[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="content and style side, px (default 512)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    content = torch.rand(1, 3, args.size, args.size).to(device)
    style = torch.rand(1, 3, args.size, args.size).to(device)
    family = adain_nst.load_model("cd16x", device=device)
    full = AdaINModel(VGGEncoder(EncoderConfig()), Decoder(DecoderConfig())).eval().to(device)
    reference = ReferenceAdaIN(full.encoder, full.decoder)
    cases: dict[str, Any] = {"reference (pytorch-AdaIN full VGG-19)": lambda: reference(content, style)}
    cases["single level cd16x (relu4_1, our decoder)"] = lambda: family.stylize(content, style, levels=["relu4_1"])
    default = family.cascade()
    cases[f"default ({default.transform} {'-'.join(lv[4] for lv in default.levels)})"] = lambda: family.stylize(
        content, style
    )
    for name in ("adain", "wct", "efdm"):
        for levels in (ALL, FOUR):
            label = f"{name} {'-'.join(lv[4] for lv in levels)}"
            cases[label] = lambda n=name, lv=levels: family.stylize(content, style, transform=n, levels=lv)
    results = {}
    with torch.inference_mode():
        for label, fn in cases.items():
            t = measure(fn, device, min_runs=3, min_time=2.0, max_time=20.0)
            results[label] = {"median_s": t.median, "n": len(t.times)}
            print(f"{label:<45} {t.median * 1e3:8.1f} ms  (n={len(t.times)})", file=sys.stderr)
        # Eigendecomposition share of WCT: time wct_matrix inside a few calls.
        spent: list[float] = []
        original = transforms.wct_matrix

        def timed(*a: Any, **k: Any) -> Any:
            sync(device)
            t0 = time.perf_counter()
            out = original(*a, **k)
            sync(device)
            spent.append(time.perf_counter() - t0)
            return out

        transforms.wct_matrix = timed
        try:
            for levels in (ALL, FOUR):
                label = f"wct {'-'.join(lv[4] for lv in levels)}"
                totals, eig = [], []
                for _ in range(3):
                    spent.clear()
                    sync(device)
                    t0 = time.perf_counter()
                    family.stylize(content, style, transform="wct", levels=levels)
                    sync(device)
                    totals.append(time.perf_counter() - t0)
                    eig.append(sum(spent))
                results[label]["eigh_s"] = statistics.median(eig)
                results[label]["eigh_share"] = statistics.median(e / t for e, t in zip(eig, totals, strict=True))
        finally:
            transforms.wct_matrix = original
    ref = results["reference (pytorch-AdaIN full VGG-19)"]["median_s"]
    where = machine_info()["gpu"] if device.type == "cuda" else machine_info()["cpu"]
    print(f"\n{args.size}x{args.size}, float32, style encoded every call, {device.type}; {where}")
    print("| case | median ms | speed-up vs reference | eigendecompositions |")
    print("| --- | ---: | ---: | --- |")
    for label, r in results.items():
        eig = f"{r['eigh_s'] * 1e3:.1f} ms ({r['eigh_share']:.0%})" if "eigh_s" in r else ""
        print(f"| {label} | {r['median_s'] * 1e3:.1f} | {ref / r['median_s']:.1f}x | {eig} |")
    if args.json:
        payload = {"machine": machine_info(), "device": str(device), "size": args.size, "results": results}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

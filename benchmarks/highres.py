"""High resolution in bounded memory: time and peak resident memory of tiled and whole-image calls.

    python benchmarks/highres.py [--sizes 12,24,48] [--budget 2GB] [--out benchmarks/results/highres]

For each size (megapixels at 4:3: 12 = 4000 x 3000, 24 = 6000 x 4000, 48 = 8000 x 6000) a
content is made at run time by upscaling a bundled sample photo (``adain_nst.samples``, bicubic;
written to a temporary JPEG, deleted after) and stylised with a bundled painting by the default
look (multi-level AdaIN 5-4-3-2-1 on the bundled cd16x family, float32), from the file path as a
user would, output at full size:

* **tiled**: ``adain_nst.stylize(path, style, max_memory=BUDGET)``;
* **whole**: the same with a budget above the whole-image estimate (no tiles), where the
  estimate fits the machine's available memory (otherwise reported as not run).

Each run is a fresh process (``--child``), so its peak resident memory (``ru_maxrss``: the whole
process, Python, torch and the model included) is the call's. Where both ran, the PSNR of the
tiled output against the whole one. The acceptance: 48 MP with ``--budget 2GB`` at most 3 GB.
Writes ``highres.json`` and ``highres.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {12: (3000, 4000), 24: (4000, 6000), 48: (6000, 8000)}
CONTENT, STYLE = "chelsea", "monet_etretat"


def child(path: str, budget: str, out: str) -> None:
    """One call in this (fresh) process; prints a JSON record with the process's peak RSS."""
    import torch

    import adain_nst
    from adain_nst import pipeline, samples
    from adain_nst.image import image_size

    model = adain_nst.load_model()
    w, h = image_size(path)
    cascade = model.cascade()
    plan = pipeline.plan_tiling(cascade, h, w, torch.device("cpu"), max_memory=budget)
    t = time.perf_counter()
    result = adain_nst.stylize(path, samples.path(STYLE), model=model, max_memory=budget, progress=False)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(out, np.asarray(result))
    record = {
        "size": list(result.size),
        "seconds": round(seconds, 1),
        "peak_rss_bytes": peak,
        "tiled": plan is not None,
        "plan": plan.describe() if plan is not None else None,
        "plan_levels": [[t.tile, t.cached] for t in plan.tilings] if plan is not None else None,
        "intermediates": plan.buffer if plan is not None else None,
        "estimate_bytes": plan.peak if plan is not None else pipeline.estimate_memory(cascade, h, w),
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(record))


def run_child(path: Path, budget: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(path), budget, str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="12,24,48", help="megapixels, from 12, 24, 48")
    parser.add_argument("--budget", default="2GB", help="max_memory of the tiled runs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/highres"))
    parser.add_argument("--child", nargs=3, metavar=("PATH", "BUDGET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    import torch
    from PIL import Image

    import adain_nst
    from adain_nst import pipeline, samples
    from adain_nst.bench.measure import machine_info
    from adain_nst.engine.runtime import available_memory

    info = machine_info()
    cascade = adain_nst.load_model().cascade()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in (int(s) for s in args.sizes.split(",")):
            h, w = SIZES[mp]
            path = Path(tmp) / f"content_{w}x{h}.jpg"
            big = Image.open(samples.path(CONTENT)).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
            big.save(path, quality=92)
            del big
            row: dict[str, Any] = {"megapixels": mp, "width": w, "height": h}
            tiled_out, whole_out = Path(tmp) / "tiled.npy", Path(tmp) / "whole.npy"
            row["tiled"] = run_child(path, args.budget, tiled_out)
            need = pipeline.estimate_memory(cascade, h, w)
            free = available_memory(torch.device("cpu")) or 0
            row["whole_estimate_bytes"] = need
            if need < 0.9 * free:
                row["whole"] = run_child(path, str(4 * need), whole_out)
                if "error" not in row["whole"] and "error" not in row["tiled"]:
                    row["psnr_tiled_vs_whole_db"] = round(psnr(np.load(tiled_out), np.load(whole_out)), 1)
            else:
                row["whole"] = {"not_run": f"estimate {need / 1e9:.1f} GB, {free / 1e9:.1f} GB available"}
            rows.append(row)
            print(json.dumps(row), flush=True)
            for f in (path, tiled_out, whole_out):
                f.unlink(missing_ok=True)
    info["loadavg_end"] = os.getloadavg()
    report = {
        "budget": args.budget,
        "content": CONTENT,
        "style": STYLE,
        "dtype": "float32",
        "model": "cd16x family, multi-level AdaIN relu5_1..relu1_1 (the default look)",
        "machine": info,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "highres.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "highres.md").write_text(markdown(report), encoding="utf-8")
    return 0


def _gb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e9:.2f}"


def markdown(report: dict[str, Any]) -> str:
    """The results as a markdown table."""
    m = report["machine"]
    lines = [
        "# High resolution in bounded memory",
        "",
        f"Default look (multi-level AdaIN 5-4-3-2-1, cd16x, float32), content `{report['content']}` upscaled "
        f"(bicubic), style `{report['style']}`, from a JPEG path, output at full size. Tiled: "
        f'`max_memory="{report["budget"]}"`. Peak RSS: the whole process (`ru_maxrss`), a fresh one per run.',
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} ({m['torch_threads']} threads); "
        f"load average at start {m.get('loadavg_start')}, at end {m.get('loadavg_end')} (shared with other jobs: "
        "times are under contention).",
        "",
        "| size | tiled: time (s) | tiled: peak RSS (GB) | tiled: estimate (GB) | plan | whole: time (s) | "
        "whole: peak RSS (GB) | whole: estimate (GB) | PSNR tiled vs whole (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["rows"]:
        t, w = r["tiled"], r["whole"]
        lines.append(
            f"| {r['megapixels']} MP ({r['width']}x{r['height']}) | {t.get('seconds', t.get('error'))} | "
            f"{_gb(t.get('peak_rss_bytes'))} | {_gb(t.get('estimate_bytes'))} | {t.get('plan') or 'whole'} | "
            f"{w.get('seconds', w.get('not_run') or w.get('error'))} | {_gb(w.get('peak_rss_bytes'))} | "
            f"{_gb(r['whole_estimate_bytes'])} | {r.get('psnr_tiled_vs_whole_db', '-')} |"
        )
    lines += [
        "",
        "The estimate of a tiled run is the plan's (`TilePlan.peak`: the call's own memory, without the "
        "process's ~0.25 GB of Python, torch and the loaded model); of a whole run `pipeline.estimate_memory` "
        "(the network alone).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

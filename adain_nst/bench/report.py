"""Benchmark reports: markdown tables, the comparison and merge of reports, and writing them."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes
from .cases import GROUP_TITLES, REF, result_key, setting_key


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x * 1e3:.1f}"


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "" if x is None else format(x, spec)


def _fmt_load(load: Sequence[float] | None) -> str:
    return "?" if not load else " / ".join(f"{x:.2f}" for x in load)


def _sep(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


def ran_dtype(r: dict[str, Any]) -> str:
    """The precision a result ran in (its case's request when it did not run)."""
    return r.get("dtype") or r["case"]["dtype"]


def _reference_for(r: dict[str, Any], refs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The reference result with the same device, model, size, batch and style (any group)."""
    return refs.get(setting_key({**r["case"], "impl": "reference", "label": REF}, "float32"))


def _machine_lines(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    lines = [
        "### Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['torch_threads']} torch threads, "
        f"ISA {m['cpu_capability']}, native bf16: {'yes' if m['native_bf16'] else 'no'}",
        f"- torch {m['torch']}, Python {m['python']}, GPU: {m['gpu'] or 'none'}, git {m.get('git_commit')}",
        f"- run at {m['time_utc']}, load average at start {_fmt_load(m.get('loadavg_start'))}, "
        f"at end {_fmt_load(m.get('loadavg_end'))}, {m.get('wall_s', 0):.0f} s in all",
    ]
    if report["config"].get("note"):
        lines.append(f"- note: {report['config']['note']}")
    for run in m.get("runs", []):
        lines.append(
            f"- run {run['time_utc']} (git {run['git_commit']}): load {_fmt_load(run['loadavg_start'])} -> "
            f"{_fmt_load(run['loadavg_end'])}, {run['wall_s'] or 0:.0f} s; {run['note']}"
        )
    for name, info in report["models"].items():
        lines.append(
            f"- model `{name}`: {info['weights']}; {info['encoder_params'] / 1e6:.2f} M encoder + "
            f"{info['decoder_params'] / 1e6:.2f} M decoder params; "
            f"{info['gflop_512_style_every_call']:.0f} GFLOP per 512² stylisation"
        )
    return lines


def markdown_report(report: dict[str, Any]) -> str:
    """Markdown tables of a :func:`~adain_nst.bench.run.run_benchmark` report, one per group.

    Each row names the precision that ran (``dtype``) and, for engine rows, the speed-up over
    the reference row of the same device, model, size, batch and style ("vs ref").
    """
    lines = _machine_lines(report)
    lines += [
        "",
        "Latency: median of n timed calls, IQR = interquartile range. GFLOP/s = conv FLOPs from "
        "layer shapes / median (nominal count: see docs). cpu_util = process CPU time / "
        "(wall x threads); well below 1 means other processes took CPU time. dtype = the precision that ran.",
    ]
    refs = {
        setting_key(r["case"], "float32"): r
        for r in report["results"]
        if r["case"]["impl"] == "reference" and r["status"].startswith("ok")
    }
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in report["results"]:
        groups.setdefault(r["case"]["group"], []).append(r)
    head = (
        "| device | model | impl | options | size | batch | style | dtype | median ms | IQR ms | n | img/s "
        "| GFLOP/s | vs ref | cpu_util | peak MiB | status |"
    )
    for group, rows in groups.items():
        lines += ["", f"### {GROUP_TITLES.get(group, group)}", "", head, _sep(head)]
        for r in rows:
            c = r["case"]
            ref = _reference_for(r, refs)
            ratio = (
                f"{ref['median_s'] / r['median_s']:.2f}x" if ref and r["median_s"] and c["impl"] != "reference" else ""
            )
            peak = r["peak_cuda_mib"] if r["peak_cuda_mib"] is not None else r["peak_rss_mib"]
            lines.append(
                f"| {c['device']} | {c['model']} | {c['impl']} | {c['label']} | {c['size']} | {c['batch']} | "
                f"{'cached' if c['cached_style'] else 'every call'} | {ran_dtype(r)} | "
                f"{_ms(r['median_s'])} | {_ms(r['iqr_s'])} | {r['n'] or ''} | {_fmt(r['img_per_s'], '.2f')} | "
                f"{_fmt(r['gflops_per_s'], '.0f')} | "
                f"{ratio} | {_fmt(r['cpu_util'], '.2f')} | {_fmt(peak, '.0f')} | {r['status']} |"
            )
    if report.get("quality"):
        lines += [
            "",
            "### Output quality of low-precision dtypes (PSNR vs float32)",
            "",
            "| device | model | dtype | size | images | PSNR min dB | PSNR mean dB | range-PSNR min dB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for q in report["quality"]:
            lines.append(
                f"| {q['device']} | {q['model']} | {q['dtype']} | {q['size']} | {q['images']} | "
                f"{q['psnr_db_min']:.1f} | {q['psnr_db_mean']:.1f} | {q['psnr_range_db_min']:.1f} |"
            )
    if not any(r["case"]["device"].startswith("cuda") for r in report["results"]):
        lines += ["", "CUDA: not measured (no GPU available to this run)."]
    return "\n".join(lines) + "\n"


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Markdown table of B's median over A's for every case both ran (``speedup`` = A / B).

    Cases match by :func:`~adain_nst.bench.cases.result_key` (group, settings and the dtype
    that ran), so reports from before float32 became the default still compare.
    """
    rows_a = {result_key(r): r for r in a["results"] if r["status"].startswith("ok")}
    lines = [
        f"A: {a['machine'].get('cpu')} / torch {a['machine'].get('torch')} / {a['machine'].get('time_utc')}",
        f"B: {b['machine'].get('cpu')} / torch {b['machine'].get('torch')} / {b['machine'].get('time_utc')}",
        "",
        "| case | A ms | B ms | B/A | speedup A/B |",
        "|---|---|---|---|---|",
    ]
    n = 0
    for r in b["results"]:
        key = result_key(r)
        ra = rows_a.get(key)
        if ra is None or not r["status"].startswith("ok"):
            continue
        n += 1
        ratio = r["median_s"] / ra["median_s"]
        lines.append(f"| {key} | {_ms(ra['median_s'])} | {_ms(r['median_s'])} | {ratio:.3f} | {1 / ratio:.2f}x |")
    if n == 0:
        lines.append("| (no case in common) | | | | |")
    return "\n".join(lines) + "\n"


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from several runs on the same machine: results by :func:`result_key`, later runs win.

    Machine metadata comes from the first report; every run's time, load averages and note
    are kept under ``machine.runs``.
    """
    merged: dict[str, Any] = {"machine": dict(reports[0]["machine"]), "config": reports[0]["config"], "models": {}}
    results: dict[str, dict[str, Any]] = {}
    runs = []
    for rep in reports:
        merged["models"].update(rep["models"])
        m = rep["machine"]
        run = {k: m.get(k) for k in ("time_utc", "loadavg_start", "loadavg_end", "wall_s", "git_commit")}
        run["note"] = rep["config"].get("note", "")
        runs.append(run)
        for r in rep["results"]:
            key = result_key(r)
            results[key] = {**r, "id": key}  # ids of older reports lacked the group
        if rep.get("quality"):
            merged["quality"] = rep["quality"]
    merged["machine"]["runs"] = runs
    merged["machine"]["wall_s"] = sum(r["wall_s"] or 0 for r in runs)
    merged["results"] = list(results.values())
    return merged


def read_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A report written by :func:`write_json` (or any earlier version of the benchmark)."""
    return json.loads(Path(path).read_text())


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``report`` as indented JSON, atomically (a crash leaves the previous file)."""
    return atomic_write_bytes(path, json.dumps(report, indent=1).encode())


def write_report(report: dict[str, Any], json_path: str | os.PathLike[str], md_path: str | os.PathLike[str]) -> str:
    """Write the JSON and the :func:`markdown_report` of ``report``; returns the markdown."""
    text = markdown_report(report)
    write_json(report, json_path)
    atomic_write_bytes(md_path, text.encode())
    return text


__all__ = [
    "compare_reports",
    "markdown_report",
    "merge_reports",
    "ran_dtype",
    "read_report",
    "write_json",
    "write_report",
]

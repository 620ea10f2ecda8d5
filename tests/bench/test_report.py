"""Markdown tables, compare, merge and the written files, on a tiny run and on committed reports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adain_nst.bench import (
    compare_reports,
    markdown_report,
    merge_reports,
    read_report,
    result_key,
    write_json,
    write_report,
)


def test_markdown_names_groups_precision_and_ratio(tiny_report: dict[str, Any]) -> None:
    md = markdown_report(tiny_report)
    assert "### Latency" in md and "| median ms |" in md and "eager fp32 NCHW" in md
    assert "| dtype |" in md and "| float32 |" in md and "| float16 |" in md  # ran / requested-but-skipped
    assert "x |" in md  # the engine rows carry a ratio to the reference
    assert "CUDA: not measured" in md


def test_report_round_trips_through_json_and_markdown_files(tiny_report: dict[str, Any], tmp_path: Path) -> None:
    text = write_report(tiny_report, tmp_path / "out" / "speed.json", tmp_path / "out" / "speed.md")
    loaded = read_report(tmp_path / "out" / "speed.json")
    assert loaded == json.loads(json.dumps(tiny_report))
    assert (tmp_path / "out" / "speed.md").read_text() == text == markdown_report(loaded)
    write_json({"partial": True}, tmp_path / "out" / "speed.json")  # the per-case checkpoint overwrites
    assert read_report(tmp_path / "out" / "speed.json") == {"partial": True}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_compare_a_report_with_itself(tiny_report: dict[str, Any]) -> None:
    cmp = compare_reports(tiny_report, tiny_report)
    assert "1.000" in cmp and "1.00x" in cmp
    assert "(no case in common)" in compare_reports(tiny_report, {**tiny_report, "results": []})


def test_merge_keeps_every_run_and_the_latest_result(tiny_report: dict[str, Any]) -> None:
    later = json.loads(json.dumps(tiny_report))
    later["config"] = {**later["config"], "note": "second run"}
    later["results"] = [{**later["results"][1], "median_s": 123.0}]
    merged = merge_reports([tiny_report, later])
    assert [r["note"] for r in merged["machine"]["runs"]] == ["", "second run"]
    assert len(merged["results"]) == len(tiny_report["results"])
    by_key = {r["id"]: r for r in merged["results"]}
    assert by_key[result_key(later["results"][0])]["median_s"] == 123.0
    assert len(re.findall(r"^- run \d", markdown_report(merged), re.M)) == 2


def test_committed_reports_stay_readable(results_dir: Path, tiny_report: dict[str, Any]) -> None:
    paths = sorted(results_dir.glob("*.json"))
    if not paths:
        pytest.skip(f"no reports in {results_dir}")
    reports = [read_report(p) for p in paths]
    for rep in reports:
        md = markdown_report(rep)
        assert "### Latency" in md
        # Old reports requested "auto"; the tables and keys show the precision that ran.
        assert all(result_key(r).endswith(r["dtype"] or r["case"]["dtype"]) for r in rep["results"])
    cmp = compare_reports(reports[0], reports[-1])
    assert "latency:cpu/full/engine:default/256/b1/every/float32" in cmp
    assert "(no case in common)" not in compare_reports(reports[0], merge_reports(reports))
    compare_reports(reports[0], tiny_report)  # new against old: no error (the sizes differ: no rows)

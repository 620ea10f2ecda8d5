"""The command line: flags parse into the config; --compare and --merge; a run writes its files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from adain_nst.bench import add_arguments, command, config_from_args, main, run_from_args


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_flags_become_the_config(tmp_path: Path) -> None:
    cfg = config_from_args(_parse("--quick", "--models", "cd16x", "--cd16x-dir", str(tmp_path), "--device", "cpu"))
    assert cfg.quick and cfg.models == ("cd16x",) and cfg.cd16x_dir == str(tmp_path) and cfg.devices == ("cpu",)
    assert cfg.batches == (1, 4) and cfg.batch_px == (256,) and cfg.dtype_size == 256 and cfg.max_runs == 5
    cfg = config_from_args(_parse("--quick", "--batches", "2", "--dtype-px", "128", "--sizes", "64", "--warmup", "3"))
    assert cfg.batches == (2,) and cfg.dtype_size == 128 and cfg.sizes == (64,) and cfg.warmup == 3
    assert config_from_args(_parse()).cd16x_dir is None


def test_compare_prints_ratios(tiny_report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps(tiny_report))
    assert main(["--compare", str(a), str(a)]) == 0
    assert "| speedup A/B |" in capsys.readouterr().out


def test_merge_writes_json_and_markdown(tiny_report: dict[str, Any], tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps(tiny_report))
    out_json, out_md = tmp_path / "m" / "all.json", tmp_path / "m" / "all.md"
    assert run_from_args(_parse("--merge", str(a), str(a), "--json", str(out_json), "--markdown", str(out_md))) == 0
    merged = json.loads(out_json.read_text())
    assert len(merged["machine"]["runs"]) == 2 and "### Latency" in out_md.read_text()


def test_a_run_passes_the_options_on_and_writes_both_files(
    tiny_report: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(cfg: Any, cases: Any, *, log: Any, checkpoint: Any) -> dict[str, Any]:
        seen.update(cfg=cfg, cases=list(cases))
        checkpoint(tiny_report)
        return tiny_report

    monkeypatch.setattr(command, "run_benchmark", fake_run)
    out_json, out_md = tmp_path / "speed.json", tmp_path / "speed.md"
    args = ["--quick", "--groups", "latency", "--impl", "engine", "--style", "cached", "--device", "cpu"]
    assert main([*args, "--cd16x-dir", str(tmp_path), "--json", str(out_json), "--markdown", str(out_md)]) == 0
    assert seen["cfg"].cd16x_dir == str(tmp_path)
    assert seen["cases"] and all(c.group == "latency" and c.impl == "engine" and c.cached_style for c in seen["cases"])
    assert json.loads(out_json.read_text())["results"] == tiny_report["results"]
    assert "| dtype |" in out_md.read_text()

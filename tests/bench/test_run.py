"""Running cases: models, the check against the reference, the recorded precision, skips."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from adain_nst.bench import BenchConfig, Case, build_model, run_benchmark
from adain_nst.bench.run import CD16X_WIDTHS
from adain_nst.engine import runtime
from adain_nst.errors import InputError, WeightsNotFoundError


def test_tiny_run_measures_every_case(tiny_report: dict[str, Any], tiny_cases: list[Case]) -> None:
    assert {"cpu", "logical_cpus", "torch", "gpu", "cpu_capability", "wall_s"} <= set(tiny_report["machine"])
    assert set(tiny_report["models"]) == {"full", "cd16x"}
    rows = {r["id"]: r for r in tiny_report["results"]}
    assert len(rows) == len(tiny_cases)
    for case in tiny_cases[:5]:
        r = rows[case.id]
        assert r["status"].startswith("ok"), r["status"]  # "ok (contended)" on a busy machine
        assert r["dtype"] == "float32"  # the precision that ran
        assert r["n"] == 2 and r["median_s"] > 0 and r["iqr_s"] >= 0 and r["gflop"] > 0
        assert r["img_per_s"] == pytest.approx(case.batch / r["median_s"])
    assert rows[tiny_cases[1].id]["max_abs_diff_vs_reference"] < 1e-4
    skipped = rows[tiny_cases[-1].id]
    assert skipped["status"].startswith("skipped") and "float16" in skipped["status"]


@pytest.mark.parametrize("native", [False, True], ids=["avx2-only", "native-bf16"])
def test_cases_record_the_precision_that_ran(
    tiny_cfg: BenchConfig, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    cases = [
        Case("latency", "cd16x", "engine", "default", 16, dtype="auto"),
        Case("dtype", "cd16x", "engine", "default", 16, dtype="bfloat16"),  # 16 px: fine even when emulated
        Case("dtype", "full", "engine", "default", 16, dtype="bfloat16"),
        Case("latency", "cd16x", "reference", "eager", 16, dtype="bfloat16"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16 on a CPU that emulates it: slow, not wrong
        report = run_benchmark(tiny_cfg, cases)
    auto, bf16, full_bf16, ref = report["results"]
    assert auto["dtype"] == ("bfloat16" if native else "float32") and auto["status"].startswith("ok")
    assert bf16["dtype"] == "bfloat16" and bf16["status"].startswith("ok")
    # Emulated bf16 runs only small cd16x cases: the full model is skipped, saying why.
    assert full_bf16["status"].startswith("ok") == native, full_bf16["status"]
    assert ref["status"] == "skipped: the reference is float32 only"
    assert report["machine"]["native_bf16"] is native


def test_build_model_reads_cd16x_from_the_folder_given(cd16x_dir: Path, tmp_path: Path) -> None:
    model, source = build_model("cd16x", weights_dir=cd16x_dir)
    assert str(cd16x_dir) in source and model.encoder.channels["relu4_1"] == CD16X_WIDTHS[3]
    random_model, source = build_model("cd16x")
    assert source.startswith("random") and "--cd16x-dir" in source
    assert random_model.encoder.channels["relu4_1"] == CD16X_WIDTHS[3] and random_model.decoder.config.final_relu
    with pytest.raises(WeightsNotFoundError, match="--cd16x-dir"):
        build_model("cd16x", weights_dir=tmp_path)
    with pytest.raises(InputError, match="unknown benchmark model"):
        build_model("vgg")
    full, _ = build_model("full", weights_dir=tmp_path)  # the folder is for cd16x only
    assert full.encoder.channels["relu4_1"] == 512

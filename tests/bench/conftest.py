"""One tiny benchmark run shared by the report tests (tiny models, 32 px, two timed calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adain_nst.bench import REF, BenchConfig, Case, run_benchmark

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
TINY_CFG = BenchConfig(tiny=True, min_runs=2, min_time=0.0, max_time=0.5, max_runs=2, warmup=1)
TINY_CASES = [
    Case("latency", "full", "reference", REF, 32, cached_style=False, dtype="float32"),
    Case("latency", "full", "engine", "default", 32, cached_style=False),
    Case("latency", "full", "engine", "default", 32, cached_style=True),
    Case("ablation", "full", "engine", "no channels_last", 32, options=(("channels_last", False),)),
    Case("batch", "cd16x", "engine", "default", 32, batch=2),
    Case("dtype", "full", "engine", "default", 32, dtype="float16"),  # CPU: skipped, and says why
]


@pytest.fixture(scope="session")
def tiny_cfg() -> BenchConfig:
    """Tiny models, two timed calls per case."""
    return TINY_CFG


@pytest.fixture(scope="session")
def tiny_cases() -> list[Case]:
    """Cases of several groups at 32 px, float32 but one float16 case (skipped on CPU)."""
    return list(TINY_CASES)


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """``benchmarks/results``: reports committed by earlier versions of the benchmark."""
    return RESULTS


@pytest.fixture(scope="session")
def tiny_report() -> dict[str, Any]:
    """The report of :data:`TINY_CASES` (float32; the float16 case is skipped on CPU)."""
    return run_benchmark(TINY_CFG, TINY_CASES)

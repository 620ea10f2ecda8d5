"""Timing and memory probes of the benchmark (counts and shapes only: no wall-clock assertions)."""

from __future__ import annotations

import torch

from adain_nst.bench import PeakMemory, Timing, machine_info, measure


def test_measure_makes_the_warmup_and_timed_calls_asked_for() -> None:
    calls = []
    timing = measure(lambda: calls.append(1), torch.device("cpu"), warmup=2, min_runs=3, max_runs=3, min_time=0)
    assert len(calls) == 5 and len(timing.times) == len(timing.cpu_times) == 3
    assert timing.first_call_s >= 0 and timing.median >= 0 and timing.iqr >= 0
    calls.clear()
    timing = measure(lambda: calls.append(1), torch.device("cpu"), warmup=0, min_runs=2, max_runs=4, min_time=60)
    assert len(calls) == 4  # min_time not reached: stops at max_runs
    assert timing.first_call_s == timing.times[0]


def test_timing_statistics() -> None:
    t = Timing([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5, 9.0)
    assert t.median == 3.0 and t.iqr == 2.0
    assert Timing([1.0], [1.0], 1.0).iqr == 0.0


def test_peak_memory_and_machine_info() -> None:
    with PeakMemory(torch.device("cpu")) as peak:
        torch.ones(1024, 1024).sum()
    assert peak.cuda_mib is None
    assert peak.rss_mib is None or peak.rss_mib > 0
    info = machine_info()
    assert {"cpu", "logical_cpus", "torch_threads", "cpu_capability", "native_bf16", "torch", "gpu"} <= set(info)
    assert isinstance(info["native_bf16"], bool)

"""How the speed benchmark measures: timed calls, peak memory and the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..engine import runtime

try:
    import resource  # POSIX only
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


@dataclass
class Timing:
    """Wall and process-CPU seconds of each timed call, and the first call's wall seconds."""

    times: list[float]
    cpu_times: list[float]
    first_call_s: float

    @property
    def median(self) -> float:
        """Median wall seconds per timed call."""
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        """Interquartile range of the wall seconds (0 with fewer than two calls)."""
        if len(self.times) < 2:
            return 0.0
        q = statistics.quantiles(self.times, n=4, method="inclusive")
        return q[2] - q[0]


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (CUDA); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    fn: Callable[[], Any],
    device: torch.device,
    *,
    warmup: int = 1,
    min_runs: int = 3,
    max_runs: int = 30,
    min_time: float = 1.0,
    max_time: float = 20.0,
) -> Timing:
    """Time ``fn`` after ``warmup`` untimed calls.

    ``min_runs`` timed calls, then more until ``min_time`` seconds (capped by ``max_time``)
    of timed calls have passed or ``max_runs`` were made. CUDA is synchronised around each call.
    """
    first: float | None = None
    for i in range(warmup):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        if i == 0:
            first = time.perf_counter() - t
    times: list[float] = []
    cpu: list[float] = []
    while len(times) < max_runs:
        sync(device)
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if first is None:  # no warm-up: the first timed call is also the first call
            first = times[0]
        if len(times) >= min_runs and sum(times) >= min(min_time, max_time):
            break
    return Timing(times, cpu, first if first is not None else times[0])


class PeakMemory:
    """Peak memory while a block runs: process RSS high-water mark (Linux), CUDA allocator peak (MiB).

    RSS includes everything the process holds (weights, Python, freed-but-retained heap), so
    it is an upper bound on what the stylisation itself needs.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.rss_mib: float | None = None
        self.cuda_mib: float | None = None

    def __enter__(self) -> PeakMemory:
        with contextlib.suppress(OSError):  # "5" resets the VmHWM high-water mark (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss_mib = _peak_rss_mib()
        if self.device.type == "cuda":
            self.cuda_mib = torch.cuda.max_memory_allocated(self.device) / 2**20


def _peak_rss_mib() -> float | None:
    """VmHWM on Linux; elsewhere the process-lifetime peak (none on Windows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, ISA, native bf16, torch version, GPU name, git commit, UTC time, load average."""
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": runtime.cpu_has_native_bf16(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with contextlib.suppress(OSError):
        info["loadavg_start"] = os.getloadavg()
    info["git_commit"] = _git_commit()
    return info


__all__ = ["PeakMemory", "Timing", "machine_info", "measure", "sync"]

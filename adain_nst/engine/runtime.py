"""What the machine offers and how a call uses it: precision, device and the glibc heap policy.

Precision policy (the ``dtype`` argument everywhere): ``None`` is float32 on every machine,
so the same call gives the same numbers on every CPU; ``"auto"`` is bfloat16 where it is
native (CPUs with AVX512-BF16/AMX, CUDA GPUs that support it) and float32 elsewhere;
explicit ``torch.float32 | torch.bfloat16 | torch.float16`` (float16 on CUDA only).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import platform
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..errors import DeviceError, InputError

try:
    import resource  # POSIX only: ulimit -v in available_memory()
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


# -- machine capabilities ------------------------------------------------------------------------
@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively on this CPU (AVX512-BF16 or AMX).

    Without it PyTorch emulates bf16 and is 10-100x *slower* than float32, so bf16 must never
    be chosen on such a CPU (measured: a 2-core Zen 4 VM that exposes only AVX2).
    """
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """Compute dtype for ``device``: ``None`` means float32, ``"auto"`` the fastest accurate one.

    ``"auto"`` gives bfloat16 on CPUs with native bf16 and on CUDA GPUs that support it, and
    float32 elsewhere (emulated bf16 is slow). bf16 output was measured at >= 42 dB PSNR
    against float32 (cd16x, eval images; the bar was 35 dB), see ``docs/benchmarks.md``.
    float16 is never chosen automatically: VGG activations of [0, 255]-scaled inputs can
    exceed its range. Raises :class:`DeviceError` for float16 on CPU, :class:`InputError` for unknown names.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype == "auto":
            if device.type == "cuda":
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
            return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else torch.float32
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)} or 'auto'")
        dtype = DTYPES[dtype]
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise InputError(f"inference dtype must be float32, bfloat16 or float16, got {dtype}")
    if dtype == torch.float16 and device.type == "cpu":
        raise DeviceError("float16 inference is for CUDA; on CPU use float32 or bfloat16")
    return dtype


_M_TRIM_THRESHOLD = -1  # glibc <malloc.h> mallopt parameters
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
# The steady heap setting of a process that runs CPU engines (and what a retained-heap call
# restores): glibc's default mmap count; blocks up to 32 MiB (the most glibc's own dynamic tuning
# reaches) come from the heap; the free heap top is trimmed past 128 MiB (glibc's tuning would
# say 64: the cd16x cascade at 512^2 frees more than that between calls and faulted it back in,
# ~10 % of a call). mallopt turns the dynamic tuning off, so both are set explicitly.
_DEFAULT_MMAP_MAX = 65536
_STEADY_MMAP_THRESHOLD = 32 * 2**20
_STEADY_TRIM_THRESHOLD = 128 * 2**20
_MALLOC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


@functools.cache
def _glibc_malloc() -> Any:
    """glibc's ``mallopt``/``malloc_trim`` via ctypes, or ``None`` (not glibc, or malloc tuned by the user).

    A user who tunes malloc through the environment or preloads another allocator keeps it.
    """
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    if any(k in os.environ for k in _MALLOC_ENV) or "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return None
    if any(a in os.environ.get("LD_PRELOAD", "") for a in ("jemalloc", "tcmalloc", "mimalloc")):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def _keep_heap(libc: Any) -> bool:
    # No mmap for big blocks (they come from the heap and are reused once freed) and never
    # trim the heap top (it would be faulted in again by the next allocation).
    return bool(libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1)


_heap_lock = threading.Lock()
_heap_depth = 0  # nesting depth of retained_heap() blocks, over all threads
_heap_kept_for_good = False
_heap_steady = False


def steady_heap() -> bool:
    """Set glibc's heap to the steady thresholds above, once per process (``retain_memory="call"``).

    Calls on small images allocate and free the same few hundred MB again and again; with the
    heap top kept up to 128 MiB, a call reuses the pages the previous one freed instead of
    faulting them in again (cd16x cascade at 512^2: 250 -> 227 ms). Blocks over 32 MiB still
    come from ``mmap`` and go back to the OS on free, so a process never keeps more than the
    trim threshold of free heap top. Returns whether the setting is in force (``False`` without
    glibc, with malloc tuned through the environment, or after :func:`retain_freed_memory`).
    """
    global _heap_steady
    libc = _glibc_malloc()
    if libc is None:
        return False
    with _heap_lock:
        if _heap_kept_for_good:
            return False
        if not _heap_steady and _heap_depth == 0:
            _heap_steady = _set_steady(libc)
    return _heap_steady


def _set_steady(libc: Any) -> bool:
    return bool(
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX) == 1
        and libc.mallopt(_M_MMAP_THRESHOLD, _STEADY_MMAP_THRESHOLD) == 1
        and libc.mallopt(_M_TRIM_THRESHOLD, _STEADY_TRIM_THRESHOLD) == 1
    )


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory in the process heap for good (``retain_memory="process"``).

    PyTorch allocates every activation afresh; blocks above 128 KiB come from ``mmap`` and go
    back on free, so every call page-faults its whole working set again (at 512^2 ~1.5 GB of
    faults, ~0.6 s of kernel time on 2 cores). With mmap and trimming off, later calls reuse
    earlier calls' pages. The cost: the process keeps its peak heap size until it exits.
    Process-wide; returns ``False`` (and does nothing) without glibc or when malloc is tuned
    through the environment.
    """
    global _heap_kept_for_good
    libc = _glibc_malloc()
    if libc is None:
        return False
    with _heap_lock:
        _heap_kept_for_good = _heap_kept_for_good or _keep_heap(libc)
    return _heap_kept_for_good


@contextlib.contextmanager
def retained_heap() -> Iterator[bool]:
    """Within the block, freed memory is reused instead of unmapped (``retain_memory="call"``).

    One stylisation allocates several times its peak working set (every activation is a new
    tensor); inside the block a freed activation's pages serve the next one, so only the peak
    is page-faulted in (measured at 512^2: 4x fewer faults, 2.48 -> 1.75 s). On exit mmap is
    allowed again (thresholds at glibc's usual tuned values, see ``_STEADY_*``) and the free
    heap is returned to the OS (``malloc_trim``). Nested and concurrent blocks share one
    setting; yields whether it is active.
    """
    global _heap_depth, _heap_steady
    libc = _glibc_malloc()
    if libc is None:
        yield False
        return
    with _heap_lock:
        if _heap_depth == 0 and not _heap_kept_for_good:
            _keep_heap(libc)
        _heap_depth += 1
    try:
        yield True
    finally:
        with _heap_lock:
            _heap_depth -= 1
            if _heap_depth == 0 and not _heap_kept_for_good:
                _heap_steady = _set_steady(libc)  # the block leaves the steady setting in force
                libc.malloc_trim(0)


def release_freed_memory() -> bool:
    """Give the free memory of glibc's heaps back to the OS now (``malloc_trim(0)``).

    Between the passes of a tiled call (:mod:`adain_nst.tiled`): each pass allocates windows of
    its own size, and the holes the previous one left would otherwise stay resident. Does nothing
    (returns ``False``) without glibc, with malloc tuned through the environment, inside a
    :func:`retained_heap` block or after :func:`retain_freed_memory`.
    """
    libc = _glibc_malloc()
    with _heap_lock:
        if libc is None or _heap_depth or _heap_kept_for_good:
            return False
        libc.malloc_trim(0)
    return True


RETAIN_MODES = ("off", "call", "process")
# retain_memory="call" only acts on calls whose full-resolution activation is this big: glibc's
# largest dynamic mmap threshold, above which every block is a fresh mmap.
RETAIN_MIN_BYTES = 32 * 2**20


def dtype_name(dtype: torch.dtype) -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"``: how outputs and reports name a precision."""
    return str(dtype).removeprefix("torch.")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A usable :class:`torch.device` for ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or ``None`` (CPU).

    ``"auto"`` picks CUDA, then MPS, then the CPU. An unavailable device raises
    :class:`DeviceError` with the reason, before any model is loaded.
    """
    if device is None:
        return torch.device("cpu")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {device!r} requested but CUDA is not available (this torch build or machine has no GPU)"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device!r} requested but MPS is not available on this machine")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device type {dev.type!r} is not supported; use 'cpu', 'cuda' or 'mps'")
    return dev


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux), else free pages by sysconf, else ``None``."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _cgroup_available() -> int | None:
    """What the cgroup (v2) memory limit leaves, in bytes, or ``None`` without a limit."""
    try:
        root = Path("/sys/fs/cgroup")
        limit = (root / "memory.max").read_text(encoding="ascii").strip()
        if limit == "max":
            return None
        used = int((root / "memory.current").read_text(encoding="ascii").strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def _address_space_available() -> int | None:
    """What ``RLIMIT_AS`` (``ulimit -v``) leaves of this process's address space, or ``None``."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, ValueError, StopIteration):
        return None
    return max(0, soft - size)


def available_memory(device: torch.device) -> int | None:
    """Bytes a call can still allocate on ``device``, or ``None`` where it cannot be told.

    CPU: the least of the system's available memory, the cgroup's limit and ``ulimit -v``;
    CUDA: the device's free memory plus what torch's caching allocator holds unused.
    """
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
        except RuntimeError:
            return None
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type != "cpu":
        return None
    known = [v for v in (_meminfo_available(), _cgroup_available(), _address_space_available()) if v is not None]
    return min(known) if known else None


__all__ = [
    "DTYPES",
    "RETAIN_MIN_BYTES",
    "RETAIN_MODES",
    "available_memory",
    "cpu_has_native_bf16",
    "dtype_name",
    "release_freed_memory",
    "resolve_device",
    "resolve_dtype",
    "retain_freed_memory",
    "retained_heap",
    "steady_heap",
]

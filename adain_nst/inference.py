"""Inference engine: the AdaIN forward pass rewritten for speed, same arithmetic.

:class:`VGGEncoder` and :class:`Decoder` stay plain ``nn.Module`` stacks because the Gatys
optimiser and decoder training differentiate through them. This module builds a frozen,
inference-only copy of an :class:`~adain_nst.AdaINModel`'s convolutions and runs it with
the tricks measured to pay on CPU (numbers in ``docs/benchmarks.md``):

* **channels_last** activations and weights (oneDNN's fast direct-conv layout);
* **conv + ReLU fused** in one oneDNN call (no extra pass over every activation);
* the encoder's leading **1x1 conv folded** into ``conv1_1`` (a pointwise affine map
  commutes with reflection padding, so ``conv1_1(pad(A x + a)) = conv1_1'(pad(x))``);
* **nearest-upsample + reflect-pad + 3x3 conv as one 2x2 sub-pixel conv**: on a
  nearest-upsampled map the 3x3 taps of each output parity collapse onto 2x2 input
  pixels, so the three decoder convs after an upsample do 16/36 of the multiply-adds;
  the reflect padding of the upsampled map is exactly a replicate padding of the small one;
* **Winograd F(2x2, 3x3)** for the wide (>= 256 channel) layers: 16 instead of 36
  multiplies per output tile and channel pair, as batched GEMMs;
* the **64 -> 3 output conv** as a 1x1 conv to the 27 (tap, colour) products plus nine
  shifted adds (oneDNN runs a 3-channel-output 3x3 conv at ~10 % of its peak);
* **AdaIN, style interpolation and the alpha blend folded into one per-channel affine
  map** on the content features (statistics in float32), so nothing is recomputed;
* **bfloat16** where it is native (CPUs with AVX512-BF16/AMX, CUDA), float16 on request;
* glibc **heap retention** during a call (:func:`retained_heap`; or for good,
  :func:`retain_freed_memory`), which removes most page faults of re-allocating every
  activation.

All of it is numerically the reference computation up to float rounding (float32 results
agree with :meth:`AdaINModel.forward` to ~1e-5 relative). Measured and left off by default:
reflection padding by zero-padded conv + recomputed border (``border_fix``; slower).
``torch.compile`` of the engine is an option (``compile=True``); it was slower here.
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
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError, InputError

if TYPE_CHECKING:
    from .model import AdaINModel

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
    exceed its range. Raises :class:`ConfigError` for float16 on CPU and unknown names.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype == "auto":
            if device.type == "cuda":
                return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
            return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else torch.float32
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)} or 'auto'")
        dtype = DTYPES[dtype]
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ConfigError(f"inference dtype must be float32, bfloat16 or float16, got {dtype}")
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError("float16 inference is for CUDA; on CPU use float32 or bfloat16")
    return dtype


_M_TRIM_THRESHOLD = -1  # glibc <malloc.h> mallopt parameters
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
# What a retained-heap call restores: glibc's default mmap count, and the thresholds its
# dynamic tuning reaches in any process that frees big blocks (mmap threshold up to 32 MiB,
# trim threshold twice that). mallopt turns that tuning off, so it is set explicitly.
_DEFAULT_MMAP_MAX = 65536
_STEADY_MMAP_THRESHOLD = 32 * 2**20
_STEADY_TRIM_THRESHOLD = 64 * 2**20
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
    global _heap_depth
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
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_MMAP_THRESHOLD, _STEADY_MMAP_THRESHOLD)
                libc.mallopt(_M_TRIM_THRESHOLD, _STEADY_TRIM_THRESHOLD)
                libc.malloc_trim(0)


RETAIN_MODES = ("off", "call", "process")
# retain_memory="call" only acts on calls whose full-resolution activation is this big: glibc's
# largest dynamic mmap threshold, above which every block is a fresh mmap.
RETAIN_MIN_BYTES = 32 * 2**20


# -- options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InferenceOptions:
    """How :class:`InferenceEngine` runs; every switch is one measured optimisation.

    Args:
        dtype: compute dtype: ``"auto"`` (default; bf16 where it is native, else float32,
            see :func:`resolve_dtype`), ``None``/``torch.float32``, ``torch.bfloat16`` or
            ``torch.float16`` (CUDA); results are always float32.
        channels_last: NHWC activations and weights.
        fuse_relu: conv + ReLU in one oneDNN call (CPU only).
        subpixel: fold nearest-upsample + 3x3 conv into a 2x2 sub-pixel conv.
        border_fix: reflection padding via zero-padded conv + recomputed border (off: the
            strip convs and border writes cost more than the padded copies they save).
        tap_output_conv: the 64 -> 3 conv as a 1x1 conv to 27 taps + shifted adds.
        winograd: Winograd F(2x2, 3x3) for 3x3 layers with >= 256 input and output channels
            (float32, CPU, channels_last).
        retain_memory: ``"call"`` (default): on big images (full-resolution activation >=
            :data:`RETAIN_MIN_BYTES`, e.g. the full model at >= 512^2) reuse freed memory
            within a call and give it back after (:func:`retained_heap`); ``"process"`` (or ``True``): keep it for good
            (:func:`retain_freed_memory`, faster repeated calls, the process stays at its peak
            size); ``"off"`` (or ``False``). glibc only; a no-op elsewhere.
        compile: wrap the engine's encoder and decoder passes in ``torch.compile`` (turns
            ``winograd`` off: inductor fails on it in torch 2.13; falls back to eager with a
            warning if compilation fails). Measured slower than the eager engine on CPU.
    """

    dtype: torch.dtype | str | None = "auto"
    channels_last: bool = True
    fuse_relu: bool = True
    subpixel: bool = True
    border_fix: bool = False
    tap_output_conv: bool = True
    winograd: bool = True
    retain_memory: bool | str = "call"
    compile: bool = False

    def __post_init__(self) -> None:
        mode = self.retain_memory
        if isinstance(mode, bool):
            mode = "process" if mode else "off"
        if mode not in RETAIN_MODES:
            raise ConfigError(f"retain_memory must be one of {RETAIN_MODES} (or a bool), got {self.retain_memory!r}")
        object.__setattr__(self, "retain_memory", mode)

    def with_(self, **changes: Any) -> InferenceOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)


REFERENCE_LIKE = InferenceOptions(
    channels_last=False,
    fuse_relu=False,
    subpixel=False,
    border_fix=False,
    tap_output_conv=False,
    winograd=False,
    retain_memory="off",
)
"""Engine options that do the reference's operations in its order (for ablations)."""


# -- layer primitives -----------------------------------------------------------------------------
@dataclass
class _Layer:
    """One prepared conv: weight already in the engine's dtype and memory format."""

    weight: Tensor
    bias: Tensor | None
    relu: bool
    kind: str  # "conv" (3x3 reflect), "subpixel" (upsample + 3x3), "taps" (3-channel output)
    upsample_after: bool = False
    out_channels: int = 0
    winograd: Tensor | None = None  # (16, C, O) transformed weight, for wide layers


# Winograd F(2x2, 3x3) (Lavin & Gray 2016): a 4x4 input tile d gives a 2x2 output tile
# A^T [(G g G^T) * (B^T d B)] A with 16 multiplies per channel pair instead of 36. The
# transforms are cheap next to the (tiles x C) @ (C x O) products only for wide layers.
_WINO_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
_WINO_AT = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
# Measured per layer: 1.4-1.9x faster than oneDNN's direct conv at C, O >= 256, even or slower
# at 128 and 64 (the transforms are memory passes over 4x the activations).
WINOGRAD_MIN_CHANNELS = 256


# Largest batch slice the CPU engine runs in one pass, in bytes of one full-resolution
# activation (pixels x first-layer width x 4): half the 32 MiB L3 of the machine measured on.
CPU_CHUNK_BYTES = 16 * 2**20


def winograd_weight(weight: Tensor) -> Tensor:
    """3x3 weight ``(O, C, 3, 3)`` -> Winograd F(2x2, 3x3) weight ``(16, C, O)``, ``G g G^T`` per pair."""
    u = torch.einsum("ik,ockl,jl->ijco", _WINO_G, weight.double(), _WINO_G)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def _mkldnn_usable(device: torch.device, dtype: torch.dtype) -> bool:
    return (
        device.type == "cpu"
        and (dtype == torch.float32 or (dtype == torch.bfloat16 and cpu_has_native_bf16()))
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
    )


_R = (  # rows of the 2x3 matrices that collapse 3 upsampled taps onto 2 source pixels
    torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64),  # even output row/col
    torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64),  # odd output row/col
)


def subpixel_weight(weight: Tensor) -> Tensor:
    """3x3 weight ``(O, C, 3, 3)`` -> 2x2 weights ``(4 O, C, 2, 2)`` for the four output parities.

    Output pixel ``(2i+a, 2j+b)`` of ``conv3x3(reflect_pad(upsample2x(x)))`` equals group
    ``2a+b`` of ``conv2x2(replicate_pad(x))`` at ``(i+a, j+b)``.
    """
    w = weight.double()
    groups = [torch.einsum("ak,ockl,bl->ocab", _R[a], w, _R[b]) for a in (0, 1) for b in (0, 1)]
    return torch.cat(groups, 0).to(weight.dtype)


def _compiled_or_eager(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``torch.compile(fn)``, falling back to ``fn`` (with a warning) if compilation fails."""
    compiled = torch.compile(fn, dynamic=False)
    failed = False

    def run(x: Tensor) -> Tensor:
        nonlocal failed
        if not failed:
            try:
                return compiled(x)
            except Exception as exc:  # inductor/dynamo errors have no common base class
                failed = True
                warnings.warn(f"torch.compile failed, running eagerly: {exc!s:.200}", RuntimeWarning, stacklevel=2)
        return fn(x)

    return run


class InferenceEngine:
    """Frozen inference-only copy of an :class:`~adain_nst.AdaINModel`.

    Build it with :meth:`AdaINModel.inference_engine` (which rebuilds it when weights,
    device or options change); do not keep one across weight updates.

    Args:
        model: the model whose weights are copied (normalised VGG encoder to relu4_1).
        options: see :class:`InferenceOptions`.
    """

    def __init__(self, model: AdaINModel, options: InferenceOptions | None = None) -> None:
        self.options = options or InferenceOptions()
        if self.options.compile and self.options.winograd:
            # torch 2.13's inductor fails on the Winograd tile views ("vr must not be None").
            self.options = self.options.with_(winograd=False)
        self.weights_key: tuple[Any, ...] = ()  # set by AdaINModel.inference_engine
        enc = model.encoder
        if enc.config.variant != "normalized":
            raise ConfigError("the inference engine supports the normalised VGG encoder only")
        self.device = model.device
        self.dtype = resolve_dtype(self.options.dtype, self.device)
        if self.dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_has_native_bf16():
            # Allowed (the user asked for it) but emulated bf16 convs run 10-100x slower than fp32.
            warnings.warn(
                "this CPU has no native bfloat16 convolutions; bf16 inference will be much slower than float32",
                RuntimeWarning,
                stacklevel=3,
            )
        self.eps = model.eps
        self.memory_format = torch.channels_last if self.options.channels_last else torch.contiguous_format
        self.mkldnn = self.options.fuse_relu and _mkldnn_usable(self.device, self.dtype)
        if self.options.retain_memory == "process" and self.device.type == "cpu":
            retain_freed_memory()
        self.first_width = model.encoder.convs["conv1_1"].out_channels
        self.encoder_layers = self._prepare_encoder(model)
        self.decoder_layers = self._prepare_decoder(model)
        self._encode: Callable[[Tensor], Tensor] = self._encode_eager
        self._decode: Callable[[Tensor], Tensor] = self._decode_eager
        if self.options.compile:
            self._encode = _compiled_or_eager(self._encode_eager)
            self._decode = _compiled_or_eager(self._decode_eager)

    # -- weight preparation ---------------------------------------------------------------------
    def _winograd(self, w: Tensor) -> Tensor | None:
        """Winograd weight for a wide 3x3 layer when the engine runs it (float32 CPU NHWC)."""
        wide = min(w.shape[0], w.shape[1]) >= WINOGRAD_MIN_CHANNELS
        usable = self.device.type == "cpu" and self.dtype == torch.float32 and self.options.channels_last
        if not (self.options.winograd and wide and usable):
            return None
        return winograd_weight(w.detach().double()).to(self.device, self.dtype)

    def _finish(self, w: Tensor) -> Tensor:
        return w.detach().to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def _bias(self, b: Tensor | None) -> Tensor | None:
        return None if b is None else b.detach().to(self.device, self.dtype).contiguous()

    def _prepare_encoder(self, model: AdaINModel) -> list[_Layer | str]:
        enc = model.encoder
        a_mat = enc.conv0.weight.detach().double()[:, :, 0, 0]  # (3, 3): y = A x + a
        a_vec = enc.conv0.bias.detach().double() if enc.conv0.bias is not None else torch.zeros(3)
        layers: list[_Layer | str] = []
        first = True
        for name in enc.layer_names:
            if name.startswith("conv"):
                conv = enc.convs[name]
                w = conv.weight.detach().double()
                b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0])
                if first:
                    # Folding in float64 keeps the folded weights exact to float32 rounding.
                    b = b + w.sum((2, 3)) @ a_vec.to(w.device)
                    w = torch.einsum("oikl,ij->ojkl", w, a_mat.to(w.device))
                    first = False
                layer = _Layer(self._finish(w), self._bias(b), True, "conv", out_channels=w.shape[0])
                layer.winograd = self._winograd(w)
                layers.append(layer)
            elif name.startswith("pool"):
                layers.append("pool")
        return layers

    def _prepare_decoder(self, model: AdaINModel) -> list[_Layer]:
        dec = model.decoder
        layers: list[_Layer] = []
        last = len(dec.plan) - 1
        upsampled = False  # the input of this conv is a nearest-upsampled map
        for i, (name, _, cout, upsample) in enumerate(dec.plan):
            conv = dec.convs[name]
            relu = i < last or dec.config.final_relu
            w, b = conv.weight.detach(), conv.bias
            if upsampled and self.options.subpixel:
                bias = self._bias(b.repeat(4) if b is not None else None)
                layer = _Layer(self._finish(subpixel_weight(w)), bias, relu, "subpixel")
            elif i == last and self.options.tap_output_conv and cout <= 4:
                # (O, C, 3, 3) -> (9 O, C, 1, 1), rows ordered (kh, kw, o)
                taps = w.permute(2, 3, 0, 1).reshape(9 * cout, w.shape[1], 1, 1)
                layer = _Layer(self._finish(taps), self._bias(b), relu, "taps")
            else:
                layer = _Layer(self._finish(w), self._bias(b), relu, "conv")
                layer.winograd = self._winograd(w)
            layer.out_channels = cout
            # Upsampling is folded into the next conv when that is a sub-pixel conv.
            layer.upsample_after = upsample and not self.options.subpixel
            layers.append(layer)
            upsampled = upsample
        return layers

    # -- primitives ---------------------------------------------------------------------------------
    def _conv(self, x: Tensor, w: Tensor, b: Tensor | None, padding: int, relu: bool) -> Tensor:
        if self.mkldnn:
            attr = "relu" if relu else "none"
            return torch.ops.mkldnn._convolution_pointwise(x, w, b, [padding, padding], [1, 1], [1, 1], 1, attr, [], "")
        y = F.conv2d(x, w, b, padding=padding)
        return F.relu_(y) if relu else y

    def _conv_reflect(self, x: Tensor, layer: _Layer) -> Tensor:
        """3x3 conv of ``x`` reflect-padded by 1, as the reference computes it."""
        h, w = x.shape[-2:]
        wt, b, relu = layer.weight, layer.bias, layer.relu
        if layer.winograd is not None and h % 2 == 0 and w % 2 == 0 and h >= 2 and w >= 2:
            return self._conv_winograd(x, layer)
        if not self.options.border_fix or h < 3 or w < 3 or x.shape[1] <= 4:
            # Tiny maps (and 3-channel images, whose padded copy is cheap) take the plain route.
            return self._conv(F.pad(x, (1, 1, 1, 1), mode="reflect"), wt, b, 0, relu)
        y = self._conv(x, wt, b, 1, relu)  # zero padding: all but the one-pixel border is exact
        n = x.shape[0]
        # Rows 0 and h-1 see input rows (1, 0, 1) and (h-2, h-1, h-2); reflect-pad them sideways.
        rows = x[:, :, [1, 0, 1, h - 2, h - 1, h - 2]]
        rows = torch.cat([rows[:, :, :3], rows[:, :, 3:]], 0)
        r = self._conv(F.pad(rows, (1, 1, 0, 0), mode="reflect"), wt, b, 0, relu)
        y[:, :, :1] = r[:n]
        y[:, :, h - 1 :] = r[n:]
        cols = x[:, :, :, [1, 0, 1, w - 2, w - 1, w - 2]]
        cols = torch.cat([cols[..., :3], cols[..., 3:]], 0)
        c = self._conv(F.pad(cols, (0, 0, 1, 1), mode="reflect"), wt, b, 0, relu)
        y[..., :1] = c[:n]
        y[..., w - 1 :] = c[n:]
        return y

    def _conv_winograd(self, x: Tensor, layer: _Layer) -> Tensor:
        """3x3 reflect conv by Winograd F(2x2, 3x3); ``x`` NHWC with even H and W."""
        assert layer.winograd is not None
        n, c, h, w = x.shape
        o = layer.out_channels
        th, tw = h // 2, w // 2
        # (n, H+2, W+2, C) view of the reflect-padded input; tile (i, j) starts at (2i, 2j).
        xp = F.pad(x, (1, 1, 1, 1), mode="reflect").permute(0, 2, 3, 1)
        rows = [xp[:, k : k + h : 2] for k in range(4)]  # row k of every tile: (n, th, W+2, C)
        # B^T d along rows, then along columns, written straight into the GEMM operand.
        r = (rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])
        v = torch.empty((16, n * th * tw, c), device=x.device, dtype=x.dtype)
        for i, ri in enumerate(r):
            cols = [ri[:, :, k : k + w : 2] for k in range(4)]
            out = v[4 * i : 4 * i + 4].view(4, n, th, tw, c)
            torch.sub(cols[0], cols[2], out=out[0])
            torch.add(cols[1], cols[2], out=out[1])
            torch.sub(cols[2], cols[1], out=out[2])
            torch.sub(cols[1], cols[3], out=out[3])
        m = torch.bmm(v, layer.winograd)  # (16, tiles, O)
        # A^T m A for all tiles at once: a (4 x 16) @ (16 x tiles*O) product, kron(A^T, A^T).
        a = torch.kron(_WINO_AT, _WINO_AT).to(m.dtype)
        y = torch.mm(a, m.view(16, -1)).view(2, 2, n, th, tw, o)
        if layer.bias is not None:
            y += layer.bias
        if layer.relu:
            y.relu_()
        out = torch.empty((n, o, h, w), device=x.device, dtype=x.dtype, memory_format=torch.channels_last)
        out.permute(0, 2, 3, 1).view(n, th, 2, tw, 2, o).copy_(y.permute(2, 3, 0, 4, 1, 5))
        return out

    def _conv_subpixel(self, x: Tensor, layer: _Layer) -> Tensor:
        """conv3x3(reflect_pad(upsample2x_nearest(x))) via one 2x2 conv with 4x the outputs."""
        n, _, h, w = x.shape
        o = layer.out_channels
        y = self._conv(F.pad(x, (1, 1, 1, 1), mode="replicate"), layer.weight, layer.bias, 0, layer.relu)
        out = torch.empty((n, o, 2 * h, 2 * w), device=x.device, dtype=y.dtype, memory_format=self.memory_format)
        # out[:, c, 2i+a, 2j+b] = y[:, (2a+b) o + c, i+a, j+b]. Four strided copies measured
        # faster than one 6-d as_strided copy of the same addresses.
        out6 = out.view(n, o, h, 2, w, 2)
        for a in (0, 1):
            for b in (0, 1):
                g = 2 * a + b
                out6[:, :, :, a, :, b] = y[:, g * o : (g + 1) * o, a : a + h, b : b + w]
        return out

    def _conv_taps(self, x: Tensor, layer: _Layer) -> Tensor:
        """Few-channel 3x3 reflect conv as a 1x1 conv to (tap, channel) planes + shifted adds."""
        n, _, h, w = x.shape
        o = layer.out_channels
        # (9 o, C) @ (C, h w) per image gives the tap planes already planar (contiguous rows for
        # the adds below), whatever x's memory format: a channels_last x is a transposed matrix.
        xm = x.permute(0, 2, 3, 1).reshape(n, h * w, -1).transpose(1, 2) if self.options.channels_last else x.flatten(2)
        t = torch.matmul(layer.weight.flatten(1), xm).view(n, 9 * o, h, w).float()
        # A 1x1 conv commutes with padding: pad the 27 tap planes instead of the 64-channel input.
        t = F.pad(t, (1, 1, 1, 1), mode="reflect").view(n, 3, 3, o, h + 2, w + 2)
        out = t[:, 0, 0, :, :h, :w].clone()
        for kh in range(3):
            for kw in range(3):
                if kh or kw:
                    out += t[:, kh, kw, :, kh : kh + h, kw : kw + w]
        if layer.bias is not None:
            out += layer.bias.float().view(1, o, 1, 1)
        return F.relu_(out) if layer.relu else out

    # -- passes -------------------------------------------------------------------------------------
    def _input(self, image: Tensor) -> Tensor:
        return image.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def _encode_eager(self, x: Tensor) -> Tensor:
        for layer in self.encoder_layers:
            if isinstance(layer, str):
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            else:
                x = self._conv_reflect(x, layer)
        return x

    def _decode_eager(self, x: Tensor) -> Tensor:
        for layer in self.decoder_layers:
            if layer.kind == "subpixel":
                x = self._conv_subpixel(x, layer)
            elif layer.kind == "taps":
                x = self._conv_taps(x, layer)
            else:
                x = self._conv_reflect(x, layer)
            if layer.upsample_after:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x.float()

    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features of ``image`` ``(B, 3, H, W)`` in [0, 1]: ``(B, C, ceil(H/8), ceil(W/8))``.

        Returned in the engine's dtype and memory format.
        """
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"image must be a (B, 3, H, W) tensor, got shape {tuple(image.shape)}")
        with self.memory_scope(image.shape[-2] * image.shape[-1]):
            return self._encode(self._input(image))

    def decode(self, feat: Tensor) -> Tensor:
        """Image ``(B, 3, 8h, 8w)`` float32 from relu4_1-level features ``(B, C, h, w)``."""
        return self._decode(feat.to(self.device, self.dtype).contiguous(memory_format=self.memory_format))

    def adain(
        self, content_feat: Tensor, style_feats: Sequence[Tensor], weights: Sequence[float], alpha: float
    ) -> Tensor:
        """``alpha * sum_i w_i AdaIN(c, s_i) + (1 - alpha) * c`` as one per-channel affine map.

        AdaIN(c, s) = c * k + (m_s - m_c * k) with k = std_s / std_c, so the weighted sum and
        the blend with ``c`` are again ``c * scale + shift``: one pass over the features,
        statistics in float32 (eps on the unbiased variance, as the reference).
        """
        c32 = content_feat.float()
        c_var, c_mean = torch.var_mean(c32, dim=(2, 3), correction=1, keepdim=True)
        c_std = (c_var + self.eps).sqrt()
        scale = torch.zeros_like(c_std)
        shift = torch.zeros_like(c_mean)
        for wgt, s in zip(weights, style_feats, strict=True):
            s_var, s_mean = torch.var_mean(s.float(), dim=(2, 3), correction=1, keepdim=True)
            k = (s_var + self.eps).sqrt() / c_std
            scale = scale + wgt * k
            shift = shift + wgt * (s_mean - c_mean * k)
        scale = alpha * scale + (1.0 - alpha)
        shift = alpha * shift
        if content_feat.dtype == torch.float32:
            return torch.addcmul(shift, content_feat, scale)
        return torch.addcmul(shift, c32, scale).to(content_feat.dtype)

    def stylize(self, content: Tensor, style_feats: Sequence[Tensor], weights: Sequence[float], alpha: float) -> Tensor:
        """Decoder output ``(B, 3, H, W)`` float32 for ``content`` whose H, W are multiples of 8.

        On CPU a batch runs in chunks whose full-resolution activation fits :data:`CPU_CHUNK_BYTES`:
        the convs are compute-bound already for one such image, so a bigger pass only adds cache
        misses and page faults (measured: 4 x 256^2 full-size in one pass 35 % slower per image
        than one at a time; small cd16x images gain from batching up to that size).
        Style features with batch 1 are shared by every content; batch B ones pair up.
        """
        with self.memory_scope(content.shape[-2] * content.shape[-1]):
            return self._stylize(content, style_feats, weights, alpha)

    def memory_scope(self, pixels: int) -> contextlib.AbstractContextManager[bool]:
        """The allocator setting for a call on images of ``pixels`` pixels.

        :func:`retained_heap` for ``retain_memory="call"`` on CPU when one full-resolution
        activation is at least :data:`RETAIN_MIN_BYTES`; smaller ones are below glibc's own
        (dynamic) mmap threshold, so glibc already reuses their memory, and retaining and
        trimming around the call measured slower (cd16x 512^2: 135 -> 174 ms).
        """
        big = pixels * self.first_width * 4 >= RETAIN_MIN_BYTES
        if self.options.retain_memory == "call" and self.device.type == "cpu" and big:
            return retained_heap()
        return contextlib.nullcontext(False)

    def _stylize(
        self, content: Tensor, style_feats: Sequence[Tensor], weights: Sequence[float], alpha: float
    ) -> Tensor:
        n = content.shape[0]
        chunk = n
        if self.device.type == "cpu":
            per_image = content.shape[-2] * content.shape[-1] * self.first_width * 4
            chunk = max(1, CPU_CHUNK_BYTES // per_image)
        if n <= chunk:
            return self.decode(self.adain(self.encode(content), style_feats, weights, alpha))
        outs = []
        for i in range(0, n, chunk):
            feats = [f if f.shape[0] == 1 else f[i : i + chunk] for f in style_feats]
            outs.append(self.decode(self.adain(self.encode(content[i : i + chunk]), feats, weights, alpha)))
        return torch.cat(outs)


__all__ = [
    "REFERENCE_LIKE",
    "InferenceEngine",
    "InferenceOptions",
    "cpu_has_native_bf16",
    "resolve_dtype",
    "retain_freed_memory",
    "retained_heap",
]

"""Speed benchmark of AdaIN stylisation: the library's engine against a reference baseline.

Used by ``benchmarks/speed.py`` and ``adain-nst bench``. What it measures, in one process:

* **reference**: an eager float32 NCHW re-implementation of pytorch-AdaIN's structure
  (``nn.Sequential`` of ``ReflectionPad2d`` + ``Conv2d`` + ``ReLU`` ..., out-of-place ReLU,
  ``Upsample``), run under ``torch.no_grad`` as its ``test.py`` does, with the same weights;
* **engine**: :meth:`AdaINModel.stylize` (public API, tensors in and out) with its default
  options, with options switched one at a time (ablations), batched, in other dtypes and
  under ``torch.compile``.

Every case reports latency (median, interquartile range, number of timed calls), images per
second, the process CPU time per call (so contention from other processes is visible: on
an idle machine ``cpu_util`` is close to 1), peak memory and achieved GFLOP/s against the
FLOP count of the convolutions from their layer shapes (:func:`stylize_flops`).

Methodology: seeds pinned per case (``torch.manual_seed(0)``); ``--warmup`` untimed calls
first (their first call time is kept as ``first_call_s``: allocation, oneDNN primitive
creation, compilation); CUDA synchronised around every timed call; weights random of the
right shapes unless real ones are found (speed does not depend on weight values).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .decoder import Decoder, DecoderConfig
from .encoder import EncoderConfig, VGGEncoder
from .inference import cpu_has_native_bf16, resolve_dtype, retain_freed_memory
from .model import AdaINModel

CD16X_WIDTHS = (16, 32, 64, 128, 128)
REF = "eager fp32 NCHW"  # label of the reference cases


# -- FLOP counting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvCost:
    """One convolution's cost. ``flops`` = 2 x multiply-adds (bias, ReLU, pools not counted)."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    height: int  # output height (stride 1, "same" padding: also the input height)
    width: int
    batch: int

    @property
    def flops(self) -> int:
        return 2 * self.in_channels * self.out_channels * self.kernel**2 * self.height * self.width * self.batch


def encoder_conv_costs(
    encoder: VGGEncoder, height: int, width: int, *, batch: int = 1, upto: str | None = None
) -> list[ConvCost]:
    """Convs an encoder runs on a ``(batch, 3, height, width)`` image up to layer ``upto``.

    Pools halve the size (ceil for the normalised variant, floor for the ImageNet one), as
    :meth:`VGGEncoder.forward` does. ``upto`` defaults to the encoder's last layer.
    """
    names = encoder.layer_names
    last = names.index(upto or names[-1])
    h, w = height, width
    costs: list[ConvCost] = []
    if encoder.config.variant == "normalized":
        c0 = encoder.conv0
        costs.append(ConvCost("conv0", c0.in_channels, c0.out_channels, c0.kernel_size[0], h, w, batch))
    for name in names[: last + 1]:
        if name.startswith("conv"):
            c = encoder.convs[name]
            costs.append(ConvCost(name, c.in_channels, c.out_channels, c.kernel_size[0], h, w, batch))
        elif name.startswith("pool"):
            if encoder.config.variant == "normalized":
                h, w = math.ceil(h / 2), math.ceil(w / 2)
            else:
                h, w = h // 2, w // 2
    return costs


def decoder_conv_costs(decoder: Decoder, height: int, width: int, *, batch: int = 1) -> list[ConvCost]:
    """Convs a decoder runs on ``(batch, C, height, width)`` features (output is 8x larger)."""
    h, w = height, width
    costs: list[ConvCost] = []
    for name, _, _, upsample in decoder.plan:
        c = decoder.convs[name]
        costs.append(ConvCost("dec_" + name, c.in_channels, c.out_channels, c.kernel_size[0], h, w, batch))
        if upsample:
            h, w = 2 * h, 2 * w
    return costs


def stylize_flops(
    model: AdaINModel,
    height: int,
    width: int,
    *,
    batch: int = 1,
    style_size: tuple[int, int] | None = None,
    cached_style: bool = False,
) -> int:
    """Conv FLOPs of one stylisation call of ``batch`` contents of ``height x width`` px.

    The content is padded to a multiple of 8 (as :meth:`AdaINModel.stylize` does) and encoded
    and decoded; one style image (default: the content's size) is encoded unless
    ``cached_style``. A nominal count: the engine's sub-pixel convs do fewer multiply-adds,
    so its GFLOP/s are "effective" (reference FLOPs / time) and can exceed the machine's peak.
    """
    hp, wp = -(-height // 8) * 8, -(-width // 8) * 8
    total = sum(c.flops for c in encoder_conv_costs(model.encoder, hp, wp, batch=batch, upto="relu4_1"))
    total += sum(c.flops for c in decoder_conv_costs(model.decoder, hp // 8, wp // 8, batch=batch))
    if not cached_style:
        sh, sw = style_size or (height, width)
        total += sum(c.flops for c in encoder_conv_costs(model.encoder, sh, sw, upto="relu4_1"))
    return total


# -- the reference baseline --------------------------------------------------------------------------
def _ref_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    n, c = feat.shape[:2]
    var = feat.view(n, c, -1).var(dim=2) + eps
    return feat.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


class ReferenceAdaIN(nn.Module):
    """pytorch-AdaIN's network structure, written out as ``nn.Sequential`` stacks.

    Encoder: 1x1 conv, then per 3x3 conv ``ReflectionPad2d(1), Conv2d, ReLU()`` and
    ``MaxPool2d(2, 2, ceil_mode=True)`` between blocks, up to relu4_1. Decoder: the mirror,
    with ``Upsample(scale_factor=2, mode="nearest")``. Out-of-place ReLUs and every
    activation re-allocated, as the reference does. Weights are copied from ``model``, so
    the output equals :meth:`AdaINModel.forward`'s (checked by the benchmark).
    """

    def __init__(self, model: AdaINModel) -> None:
        super().__init__()
        enc, dec = model.encoder, model.decoder
        vgg: list[nn.Module] = [_copy_conv(enc.conv0, 1)]
        for name in enc.layer_names:
            if name.startswith("conv"):
                vgg += [nn.ReflectionPad2d(1), _copy_conv(enc.convs[name], 3), nn.ReLU()]
            elif name.startswith("pool"):
                vgg.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        layers: list[nn.Module] = []
        last = len(dec.plan) - 1
        for i, (name, _, _, upsample) in enumerate(dec.plan):
            layers += [nn.ReflectionPad2d(1), _copy_conv(dec.convs[name], 3)]
            if i < last or dec.config.final_relu:
                layers.append(nn.ReLU())
            if upsample:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.vgg = nn.Sequential(*vgg)
        self.decoder = nn.Sequential(*layers)
        self.eps = model.eps

    def forward(
        self, content: Tensor, style: Tensor | None = None, alpha: float = 1.0, style_feat: Tensor | None = None
    ) -> Tensor:
        """Stylise ``content`` ``(B, 3, H, W)`` (H, W multiples of 8) with ``style`` or its features."""
        content_f = self.vgg(content)
        style_f = self.vgg(style) if style_feat is None else style_feat
        c_mean, c_std = _ref_mean_std(content_f, self.eps)
        s_mean, s_std = _ref_mean_std(style_f, self.eps)
        size = content_f.size()
        feat = (content_f - c_mean.expand(size)) / c_std.expand(size) * s_std.expand(size) + s_mean.expand(size)
        feat = feat * alpha + content_f * (1 - alpha)
        return self.decoder(feat)


def _copy_conv(conv: nn.Conv2d, k: int) -> nn.Conv2d:
    new = nn.Conv2d(conv.in_channels, conv.out_channels, k)  # no padding: the pad layer does it
    with torch.no_grad():
        new.weight.copy_(conv.weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


# -- timing ------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Wall and process-CPU seconds of each timed call, plus the first (untimed) call."""

    times: list[float]
    cpu_times: list[float]
    first_call_s: float

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        q = statistics.quantiles(self.times, n=4, method="inclusive")
        return q[2] - q[0]


def _sync(device: torch.device) -> None:
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
    """Time ``fn`` after ``warmup`` calls: ``min_runs`` calls, then more until ``min_time``
    seconds (capped by ``max_time``) of timed calls have passed or ``max_runs`` were made.
    """
    first: float | None = None
    for i in range(warmup):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        if i == 0:
            first = time.perf_counter() - t
    times: list[float] = []
    cpu: list[float] = []
    while len(times) < max_runs:
        _sync(device)
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if first is None:  # no warm-up: the first timed call is also the first call
            first = times[0]
        if len(times) >= min_runs and sum(times) >= min(min_time, max_time):
            break
    return Timing(times, cpu, first if first is not None else times[0])


class PeakMemory:
    """Peak memory while a block runs: process RSS high-water mark (Linux), CUDA allocator peak.

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
        self.rss_mib = _vm_hwm_mib()
        if self.device.type == "cuda":
            self.cuda_mib = torch.cuda.max_memory_allocated(self.device) / 2**20


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Elsewhere: the process-lifetime peak (KiB on Linux, bytes on macOS); none on Windows.
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# -- cases -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One benchmark configuration.

    Args:
        group: table it belongs to (``latency``, ``ablation``, ``batch``, ``dtype``, ``compile``).
        model: ``full`` (VGG-19 widths) or ``cd16x``.
        impl: ``reference`` or ``engine``.
        label: short name of the engine options (``default``, ``+channels_last`` ...).
        size: content and style side in px (square).
        batch: contents per call (one style).
        cached_style: style features computed once outside the timed call.
        dtype: ``auto`` (the library default, see :func:`adain_nst.inference.resolve_dtype`),
            ``float32``, ``bfloat16`` or ``float16``.
        options: engine option overrides as (name, value) pairs.
        retain_memory: needs :func:`retain_freed_memory` (process-wide; run last).
    """

    group: str
    model: str
    impl: str
    label: str
    size: int
    batch: int = 1
    cached_style: bool = True
    dtype: str = "auto"
    device: str = "cpu"
    options: tuple[tuple[str, Any], ...] = ()
    retain_memory: bool = False

    @property
    def id(self) -> str:
        """Stable key across runs (``--compare``, ``--merge``): the group and every setting."""
        return case_id(asdict(self))


def _setting_key(c: dict[str, Any]) -> str:
    style = "cached" if c["cached_style"] else "every"
    return f"{c['device']}/{c['model']}/{c['impl']}:{c['label']}/{c['size']}/b{c['batch']}/{style}/{c['dtype']}"


def case_id(c: dict[str, Any]) -> str:
    """``group:device/model/impl:label/size/bN/style/dtype`` of a case given as a dict."""
    return f"{c['group']}:{_setting_key(c)}"


@dataclass
class Result:
    """A case's measurements (seconds, MiB, GFLOP); ``status`` is ``ok`` or why not."""

    case: Case
    status: str = "ok"
    dtype: str | None = None  # the dtype that ran ("auto" resolved)
    median_s: float | None = None
    iqr_s: float | None = None
    n: int = 0
    first_call_s: float | None = None
    cpu_s: float | None = None
    cpu_util: float | None = None
    img_per_s: float | None = None
    gflop: float | None = None
    gflops_per_s: float | None = None
    peak_rss_mib: float | None = None
    peak_cuda_mib: float | None = None
    max_abs_diff_vs_reference: float | None = None
    times: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["case"] = {**asdict(self.case), "options": dict(self.case.options)}
        d["id"] = self.case.id
        return d


def _shared_weights() -> Path | None:
    root = os.environ.get("ADAIN_NST_TEST_DATA")
    if not root:
        return None
    p = Path(root) / "weights" / "cd16x"
    return p if (p / "e4.pth").exists() and (p / "d4.pth").exists() else None


def build_model(name: str, *, tiny: bool = False) -> tuple[AdaINModel, str]:
    """The model for a case, and where its weights came from.

    ``full``: random weights of VGG-19 widths (64, 128, 256, 512). ``cd16x``: the real e4/d4
    from ``$ADAIN_NST_TEST_DATA/weights/cd16x`` when present, else random of the same widths.
    ``tiny`` (tests): widths 4..32 whatever the name.
    """
    torch.manual_seed(0)
    if tiny:
        widths: tuple[int, ...] = (4, 8, 16, 32, 32)
        enc, dec = VGGEncoder(EncoderConfig(widths=widths)), Decoder(DecoderConfig(widths=widths[:4]))
        return AdaINModel(enc, dec).eval(), "random (tiny)"
    if name == "full":
        return AdaINModel(VGGEncoder(EncoderConfig()), Decoder(DecoderConfig())).eval(), "random (VGG-19 widths)"
    if name == "cd16x":
        shared = _shared_weights()
        if shared is not None:
            return AdaINModel.from_cd16x_checkpoint(shared / "e4.pth", shared / "d4.pth"), f"{shared}/e4.pth, d4.pth"
        enc = VGGEncoder(EncoderConfig(widths=CD16X_WIDTHS))
        dec = Decoder(DecoderConfig(widths=CD16X_WIDTHS[:4], final_relu=True))
        return AdaINModel(enc, dec).eval(), "random (cd16x widths; $ADAIN_NST_TEST_DATA not set)"
    raise ValueError(f"unknown model {name!r}")


def _fits_in_memory(model: AdaINModel, size: int, batch: int, device: torch.device) -> bool:
    """Rough check that the largest activations of a call fit: 6 live full-res maps + margin."""
    c1 = model.encoder.channels["relu1_1"]
    need = 6 * 4 * batch * c1 * size * size
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return need < 0.8 * free
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return need < 0.7 * int(line.split()[1]) * 1024
    except OSError:
        pass
    return size <= 1024


# -- running -----------------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    """What to run; see :func:`default_cases` and :func:`add_arguments`."""

    quick: bool = False
    sizes: tuple[int, ...] = (256, 512, 1024, 2048)  # latency table (--quick: those <= 512)
    ablation_size: int = 512
    batch_px: tuple[int, ...] = (256, 512)  # sizes of the batch table
    dtype_size: int = 512
    compile_sizes: tuple[int, ...] = (256, 512)
    models: tuple[str, ...] = ("full", "cd16x")
    devices: tuple[str, ...] = ("cpu",)
    batches: tuple[int, ...] = (1, 4, 8)
    warmup: int = 1
    min_runs: int = 3
    max_runs: int = 15
    min_time: float = 1.0
    max_time: float = 15.0
    threads: int | None = None
    compile: bool = True
    tiny: bool = False  # tiny models (tests)
    note: str = ""
    retries: int = 0  # re-run a CPU case whose cpu_util is below min_cpu_util (shared machines)
    min_cpu_util: float = 0.9
    retry_wait: float = 10.0


GROUPS = ("latency", "ablation", "batch", "dtype", "compile", "retain")
GROUP_TITLES = {
    "latency": "Latency: reference vs engine (default options)",
    "ablation": "Ablation: engine options switched one at a time (full model, style cached)",
    "batch": "Batching: several contents with one cached style",
    "dtype": "Low-precision dtypes",
    "compile": "torch.compile of the engine",
    "retain": 'Engine with retain_memory="process" (glibc heap kept between calls)',
}
_ALL_OFF = {"channels_last": False, "fuse_relu": False, "subpixel": False, "tap_output_conv": False, "winograd": False}
ABLATIONS: tuple[tuple[str, dict[str, Any]], ...] = (  # cumulative, then single switches from the default
    ("reference-like ops", _ALL_OFF | {"retain_memory": "off"}),
    ("+heap retained per call", _ALL_OFF),
    ("+channels_last", _ALL_OFF | {"channels_last": True}),
    ("+fused conv-relu", _ALL_OFF | {"channels_last": True, "fuse_relu": True}),
    ("+sub-pixel upsample-conv", {"tap_output_conv": False, "winograd": False}),
    ("+tap output conv", {"winograd": False}),
    ("+winograd (= default)", {}),
    ("default, channels_last off", {"channels_last": False}),
    ('default, retain_memory="off"', {"retain_memory": "off"}),
    ("default +border fix", {"border_fix": True}),
)


def default_cases(cfg: BenchConfig) -> list[Case]:
    """The case list: latency (reference vs engine), ablations, batching, dtypes, compile."""
    cases: list[Case] = []
    sizes = tuple(s for s in cfg.sizes if not (cfg.quick and s > 512))
    for dev in cfg.devices:
        on_cuda = dev.startswith("cuda")
        for model in cfg.models:
            for size in sizes:
                for cached in (False, True):
                    cases.append(Case("latency", model, "reference", REF, size, 1, cached, "float32", dev))
                    cases.append(Case("latency", model, "engine", "default", size, 1, cached, device=dev))
        for label, opts in ABLATIONS:
            if on_cuda and "fuse_relu" in opts:
                continue  # oneDNN fusion is CPU-only; CUDA runs cuDNN either way
            opt = tuple(opts.items())
            cases.append(Case("ablation", "full", "engine", label, cfg.ablation_size, device=dev, options=opt))
        for model in cfg.models:
            for size in cfg.batch_px:
                for b in cfg.batches:
                    cases.append(Case("batch", model, "engine", "default", size, b, True, device=dev))
                    if model == "full" and b > 1 and not on_cuda:
                        cases.append(Case("batch", model, "reference", REF, size, b, True, "float32", dev))
        dtypes = ("bfloat16", "float16") if on_cuda else ("bfloat16",)
        for dt in dtypes:
            for model in cfg.models:
                cases.append(Case("dtype", model, "engine", "default", cfg.dtype_size, dtype=dt, device=dev))
        if cfg.compile and not cfg.quick:
            for model in cfg.models:
                for size in cfg.compile_sizes:
                    cases.append(
                        Case("compile", model, "engine", "compile", size, options=(("compile", True),), device=dev)
                    )
        if not on_cuda:
            # Run last: it changes the process's allocator for good (see retain_freed_memory).
            for model in cfg.models:
                for size in tuple(x for x in sizes if not cfg.quick or x == 512):
                    for cached in (False, True):
                        label = 'retain_memory="process"'
                        case = Case("retain", model, "engine", label, size, 1, cached, device=dev, retain_memory=True)
                        cases.append(case)
    return cases


def run_case(
    case: Case,
    cfg: BenchConfig,
    models: dict[str, tuple[AdaINModel, ReferenceAdaIN]],
    expected: dict[tuple[Any, ...], Tensor] | None = None,
) -> Result:
    """Build inputs for ``case``, compare a 256 px engine output with the reference, time it.

    ``expected`` caches reference outputs between cases (the check costs one reference call).
    """
    res = Result(case)
    device = torch.device(case.device)
    model, ref = models[case.model]
    model, ref = model.to(device), ref.to(device)
    if case.impl == "reference" and case.dtype not in ("auto", "float32"):
        res.status = "skipped: the reference is float32 only"
        return res
    if case.dtype == "float16" and device.type == "cpu":
        res.status = "skipped: float16 is CUDA-only"
        return res
    dtype = resolve_dtype(case.dtype, device) if case.impl == "engine" else torch.float32
    res.dtype = str(dtype).replace("torch.", "")
    emulated_bf16 = dtype == torch.bfloat16 and device.type == "cpu" and not cpu_has_native_bf16()
    if emulated_bf16 and (case.model == "full" or case.size > 256):
        res.status = "skipped: this CPU has no native bf16 (emulated bf16 is far slower than fp32)"
        return res
    if not _fits_in_memory(model, case.size, case.batch, device):
        res.status = "skipped: not enough free memory"
        return res
    if case.retain_memory:
        retain_freed_memory()
    torch.manual_seed(0)
    content = torch.rand(case.batch, 3, case.size, case.size, device=device)
    style = torch.rand(1, 3, case.size, case.size, device=device)
    res.gflop = stylize_flops(model, case.size, case.size, batch=case.batch, cached_style=case.cached_style) / 1e9
    fn: Callable[[], Any]
    with torch.inference_mode():
        if case.impl == "reference":
            feat = ref.vgg(style)

            def fn() -> Tensor:
                if case.cached_style:
                    return ref(content, style_feat=feat)
                return ref(content, style)

        else:
            opts = dict(case.options)
            if case.retain_memory:
                opts["retain_memory"] = "process"
            model.optimize_for_inference(dtype=dtype, **opts)
            feats = model.encode_style(style)

            def fn() -> Tensor:
                if case.cached_style:
                    return model.stylize(content, style_feats=feats)
                return model.stylize(content, style)

        try:
            _sync(device)
            t_first = time.perf_counter()
            out = fn()  # the first call: checked against the reference, counts as a warm-up call
            _sync(device)
            res.first_call_s = time.perf_counter() - t_first
            if case.impl == "engine" and case.size <= 256 and expected is not None:
                key = (case.model, case.size, case.batch, case.device)
                if key not in expected:
                    expected[key] = ref(content, style).clamp(0, 1)
                res.max_abs_diff_vs_reference = float((out.float() - expected[key]).abs().max())
            del out
            with PeakMemory(device) as peak:
                timing = measure(
                    fn,
                    device,
                    warmup=max(cfg.warmup - 1, 0),
                    min_runs=cfg.min_runs,
                    max_runs=cfg.max_runs,
                    min_time=cfg.min_time,
                    max_time=cfg.max_time,
                )
        except (torch.OutOfMemoryError, MemoryError) as exc:
            res.status = f"skipped: out of memory ({type(exc).__name__})"
            return res
        except Exception as exc:  # one broken case (e.g. a compiler bug) must not end the run
            first_line = (str(exc).strip().splitlines() or [""])[0]
            res.status = f"error: {type(exc).__name__}: {first_line[:150]}"
            return res
        finally:
            model.optimize_for_inference()  # back to defaults for the next case
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    res.times = timing.times
    res.median_s, res.iqr_s, res.n = timing.median, timing.iqr, len(timing.times)
    res.cpu_s = statistics.median(timing.cpu_times)
    res.cpu_util = res.cpu_s / (res.median_s * threads) if device.type == "cpu" else None
    res.img_per_s = case.batch / res.median_s
    res.gflops_per_s = res.gflop / res.median_s
    res.peak_rss_mib, res.peak_cuda_mib = peak.rss_mib, peak.cuda_mib
    return res


# -- low-precision quality ----------------------------------------------------------------------------
def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of ``a`` against ``b`` in dB (``inf`` when equal)."""
    mse = float((a.double() - b.double()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def _eval_pairs(size: int, n: int) -> tuple[list[Tensor], list[Tensor], str]:
    """``n`` (content, style) image pairs: the eval photos/paintings when found, else smooth noise."""
    from .image import resize_shorter, to_tensor

    root = os.environ.get("ADAIN_NST_TEST_DATA")
    ev = Path(root) / "data" / "eval" if root else None
    if ev is not None and (ev / "content").is_dir() and (ev / "style").is_dir():
        cs = sorted((ev / "content").glob("*.jpg"))[:n]
        ss = sorted((ev / "style").glob("*.jpg"))[:n]
        if cs and ss:

            def load(p: Path) -> Tensor:
                x = resize_shorter(to_tensor(str(p))[0], size)
                return x[..., :size, :size].contiguous()

            return [load(p) for p in cs], [load(p) for p in ss], f"{len(cs)} eval photo/painting pairs"
    g = torch.Generator().manual_seed(0)
    smooth = [torch.rand(1, 3, size // 16, size // 16, generator=g) for _ in range(2 * n)]
    imgs = [F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) for x in smooth]
    return imgs[:n], imgs[n:], f"{n} random smooth image pairs ($ADAIN_NST_TEST_DATA not set)"


def dtype_quality(
    model: AdaINModel, dtype: torch.dtype, *, size: int = 256, pairs: int = 4, device: str = "cpu"
) -> dict[str, Any]:
    """PSNR of ``model.stylize`` in ``dtype`` against float32, over eval image pairs.

    Returns min/mean PSNR (dB) with peak 1 (outputs clamped to [0, 1], as users get them)
    and with peak = the float32 output's value range (meaningful for random weights, whose
    raw outputs are far from [0, 1]).
    """
    contents, styles, source = _eval_pairs(size, pairs)
    model = model.to(device)
    vals, vals_range = [], []
    with torch.inference_mode():
        for c, s in zip(contents, styles, strict=False):
            c, s = c.to(device), s.to(device)
            fp32 = model.inference_engine(dtype=torch.float32)
            ref = fp32.stylize(c, [fp32.encode(s)], [1.0], 1.0)
            low_engine = model.inference_engine(dtype=dtype)
            low = low_engine.stylize(c, [low_engine.encode(s)], [1.0], 1.0)
            vals.append(psnr(low.clamp(0, 1), ref.clamp(0, 1)))
            vals_range.append(psnr(low, ref, peak=float(ref.max() - ref.min())))
    return {
        "dtype": str(dtype).replace("torch.", ""),
        "size": size,
        "images": source,
        "psnr_db_min": min(vals),
        "psnr_db_mean": statistics.fmean(vals),
        "psnr_range_db_min": min(vals_range),
        "psnr_range_db_mean": statistics.fmean(vals_range),
    }


def machine_info() -> dict[str, Any]:
    """CPU model, cores, ISA, torch version, GPU name, git commit, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with contextlib.suppress(OSError):
        info["loadavg_start"] = os.getloadavg()
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
        info["git_commit"] = out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def run_benchmark(
    cfg: BenchConfig,
    cases: Iterable[Case] | None = None,
    *,
    log: Callable[[str], None] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``cases`` (default: :func:`default_cases`) and return the JSON-ready report.

    ``log`` gets one line per case; ``checkpoint`` the report so far after every case (so an
    interrupted run keeps what it measured).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t_start = time.perf_counter()
    case_list = list(cases) if cases is not None else default_cases(cfg)
    # Cases needing the retained heap go last: the setting cannot be undone.
    case_list.sort(key=lambda c: c.retain_memory)
    report: dict[str, Any] = {"machine": machine_info(), "config": asdict(cfg), "models": {}, "results": []}
    models: dict[str, tuple[AdaINModel, ReferenceAdaIN]] = {}
    for name in dict.fromkeys(c.model for c in case_list):
        model, source = build_model(name, tiny=cfg.tiny)
        models[name] = (model, ReferenceAdaIN(model).eval())
        enc_params = sum(p.numel() for p in model.encoder.parameters())
        dec_params = sum(p.numel() for p in model.decoder.parameters())
        report["models"][name] = {
            "weights": source,
            "encoder_params": enc_params,
            "decoder_params": dec_params,
            "gflop_512_style_every_call": stylize_flops(model, 512, 512) / 1e9,
        }
    expected: dict[tuple[Any, ...], Tensor] = {}
    for case in case_list:
        res = run_case(case, cfg, models, expected)
        for _ in range(cfg.retries):
            if res.status != "ok" or res.cpu_util is None or res.cpu_util >= cfg.min_cpu_util:
                break
            if log:
                log(f"{case.id}: cpu_util {res.cpu_util:.2f}: other processes took CPU time; retrying")
            time.sleep(cfg.retry_wait)
            again = run_case(case, cfg, models, expected)
            if again.status == "ok" and (again.cpu_util or 0) > res.cpu_util:
                res = again
        if res.status == "ok" and res.cpu_util is not None and res.cpu_util < cfg.min_cpu_util:
            res.status = "ok (contended)"
        report["results"].append(res.to_dict())
        if log:
            log(_log_line(res))
        if checkpoint:
            checkpoint(report)
    report["machine"]["wall_s"] = time.perf_counter() - t_start
    with contextlib.suppress(OSError):
        report["machine"]["loadavg_end"] = os.getloadavg()
    return report


def _log_line(res: Result) -> str:
    if not res.status.startswith("ok"):
        return f"{res.case.id}: {res.status}"
    return (
        f"{res.case.id}: {res.median_s * 1e3:.1f} ms (IQR {res.iqr_s * 1e3:.1f}, n={res.n}) "
        f"{res.gflops_per_s:.0f} GFLOP/s cpu_util={res.cpu_util or 0:.2f}"
    )


# -- reports -----------------------------------------------------------------------------------------
def _ms(x: float | None) -> str:
    return "" if x is None else f"{x * 1e3:.1f}"


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "" if x is None else format(x, spec)


def _reference_for(r: dict[str, Any], refs: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The reference result with the same device, model, size, batch and style (any group)."""
    c = {**r["case"], "impl": "reference", "label": REF, "dtype": "float32"}
    return refs.get(_setting_key(c))


def markdown_report(report: dict[str, Any]) -> str:
    """Markdown tables of a :func:`run_benchmark` report, one per group."""
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
    lines += [
        "",
        "Latency: median of n timed calls, IQR = interquartile range. GFLOP/s = conv FLOPs from "
        "layer shapes / median (nominal count: see docs). cpu_util = process CPU time / "
        "(wall x threads); well below 1 means other processes took CPU time.",
    ]
    refs = {
        _setting_key(r["case"]): r
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
                f"{'cached' if c['cached_style'] else 'every call'} | {r['dtype'] or c['dtype']} | "
                f"{_ms(r['median_s'])} | "
                f"{_ms(r['iqr_s'])} | {r['n'] or ''} | {_fmt(r['img_per_s'], '.2f')} | "
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


def _sep(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


def _fmt_load(load: Sequence[float] | None) -> str:
    return "?" if not load else " / ".join(f"{x:.2f}" for x in load)


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Markdown table of B's median over A's for every case both ran (``speedup`` = A / B)."""
    rows_a = {case_id(r["case"]): r for r in a["results"] if r["status"].startswith("ok")}
    lines = [
        f"A: {a['machine'].get('cpu')} / torch {a['machine'].get('torch')} / {a['machine'].get('time_utc')}",
        f"B: {b['machine'].get('cpu')} / torch {b['machine'].get('torch')} / {b['machine'].get('time_utc')}",
        "",
        "| case | A ms | B ms | B/A | speedup A/B |",
        "|---|---|---|---|---|",
    ]
    n = 0
    for r in b["results"]:
        ra = rows_a.get(case_id(r["case"]))
        if ra is None or not r["status"].startswith("ok"):
            continue
        n += 1
        ratio = r["median_s"] / ra["median_s"]
        lines.append(
            f"| {case_id(r['case'])} | {_ms(ra['median_s'])} | {_ms(r['median_s'])} | {ratio:.3f} | {1 / ratio:.2f}x |"
        )
    if n == 0:
        lines.append("| (no case in common) | | | | |")
    return "\n".join(lines) + "\n"


# -- command line --------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``benchmarks/speed.py`` / ``adain-nst bench``."""
    p.add_argument("--quick", action="store_true", help="256 and 512 px only, no compile (< 3 min on 2 cores)")
    p.add_argument("--sizes", type=int, nargs="+", help="content/style sides in px (default 256 512 1024 2048)")
    p.add_argument("--models", nargs="+", choices=("full", "cd16x"), help="default: both")
    p.add_argument("--device", nargs="+", help="cpu, cuda ... (default: cpu, and cuda when available)")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes of the batch table (default 1 4 8)")
    p.add_argument("--batch-px", type=int, nargs="+", help="image sides of the batch table (default 256 512)")
    p.add_argument("--compile-px", type=int, nargs="+", help="image sides of the compile table (default 256 512)")
    p.add_argument("--dtype-px", type=int, help="image side of the dtype table (default 512; --quick 256)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile cases")
    p.add_argument("--min-runs", type=int, default=None, help="timed calls per case, at least (default 3)")
    p.add_argument("--json", default="speed.json", help="write the full report here (default speed.json)")
    p.add_argument("--markdown", default="speed.md", help="write the tables here (default speed.md)")
    p.add_argument("--note", default="", help="free text stored in the report (e.g. what else was running)")
    p.add_argument("--groups", nargs="+", choices=GROUPS, help="run only these tables (default: all)")
    p.add_argument("--impl", choices=("reference", "engine"), help="run only this implementation's cases")
    p.add_argument("--style", choices=("every", "cached"), help="run only cases with the style encoded so")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed calls before timing, at least 1 (the first call; default 1)"
    )
    p.add_argument(
        "--retries", type=int, default=0, help="re-run a CPU case up to N times while cpu_util < 0.9 (busy machine)"
    )
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print B/A ratios of two reports and exit")
    p.add_argument(
        "--quality", action="store_true", help="also measure the PSNR of bf16 (and fp16 on CUDA) output vs float32"
    )
    p.add_argument(
        "--merge", nargs="+", metavar="REPORT.json", help="merge reports (later wins) into --json/--markdown"
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run what :func:`add_arguments`' options ask; returns the exit status."""
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        sys.stdout.write(compare_reports(a, b))
        return 0
    if args.merge:
        report = merge_reports([json.loads(Path(p).read_text()) for p in args.merge])
        _write(report, args.json, args.markdown)
        return 0
    devices = tuple(args.device) if args.device else ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    cfg = BenchConfig(
        quick=args.quick,
        devices=devices,
        threads=args.threads,
        compile=not args.no_compile,
        note=args.note,
    )
    if args.sizes:
        cfg.sizes = tuple(args.sizes)
    if args.models:
        cfg.models = tuple(args.models)
    if args.batches:
        cfg.batches = tuple(args.batches)
    if args.quick:
        cfg.min_time, cfg.max_time, cfg.max_runs = 0.5, 6.0, 5
        cfg.ablation_size, cfg.batch_px, cfg.dtype_size = 256, (256,), 256
        if not args.batches:
            cfg.batches = (1, 4)
    if args.min_runs:
        cfg.min_runs = args.min_runs
    if args.batch_px:
        cfg.batch_px = tuple(args.batch_px)
    if args.compile_px:
        cfg.compile_sizes = tuple(args.compile_px)
    if args.dtype_px:
        cfg.dtype_size = args.dtype_px
    if args.warmup is not None:
        cfg.warmup = args.warmup
    cfg.retries = args.retries
    cases = [
        c
        for c in default_cases(cfg)
        if (not args.groups or c.group in args.groups)
        and (not args.impl or c.impl == args.impl)
        and (not args.style or (c.cached_style == (args.style == "cached")))
    ]
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    report = run_benchmark(
        cfg,
        cases,
        log=lambda s: print(s, flush=True),
        checkpoint=lambda r: json_path.write_text(json.dumps(r, indent=1)),
    )
    if args.quality:
        report["quality"] = quality_report(cfg.models, devices)
        json_path.write_text(json.dumps(report, indent=1))
    _write(report, args.json, args.markdown)
    return 0


def quality_report(models: Sequence[str], devices: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`dtype_quality` of bf16 (and fp16 on CUDA) for each model: 6 image pairs for
    cd16x, 2 for the (slow when emulated, random-weight) full model, at 256 px."""
    rows = []
    for dev in devices:
        dtypes = [torch.bfloat16, torch.float16] if dev.startswith("cuda") else [torch.bfloat16]
        for name in models:
            model, source = build_model(name)
            for dt in dtypes:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16: slow, still right
                    q = dtype_quality(model, dt, size=256, pairs=6 if name == "cd16x" else 2, device=dev)
                rows.append({"model": name, "weights": source, "device": dev, **q})
    return rows


def _write(report: dict[str, Any], json_path: str, md_path: str) -> None:
    text = markdown_report(report)
    for p in (json_path, md_path):
        Path(p).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(report, indent=1))
    Path(md_path).write_text(text)
    print(text)
    print(f"wrote {json_path} and {md_path}")


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from several runs on the same machine: results by case id, later runs win.

    Machine metadata comes from the first report; every run's time, load averages and note
    are kept under ``runs``.
    """
    merged: dict[str, Any] = {"machine": dict(reports[0]["machine"]), "config": reports[0]["config"], "models": {}}
    results: dict[str, dict[str, Any]] = {}
    runs = []
    for rep in reports:
        merged["models"].update(rep["models"])
        m = rep["machine"]
        runs.append({k: m.get(k) for k in ("time_utc", "loadavg_start", "loadavg_end", "wall_s", "git_commit")})
        runs[-1]["note"] = rep["config"].get("note", "")
        for r in rep["results"]:
            r = {**r, "id": case_id(r["case"])}  # ids of older reports lacked the group
            results[r["id"]] = r
        if rep.get("quality"):
            merged["quality"] = rep["quality"]
    merged["machine"]["runs"] = runs
    merged["machine"]["wall_s"] = sum(r["wall_s"] or 0 for r in runs)
    merged["results"] = list(results.values())
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m adain_nst.bench``: same as ``benchmarks/speed.py``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Running the speed benchmark: the models, one case (check, then time), the whole report.

* **reference**: :class:`adain_nst.nn.reference.ReferenceAdaIN`, pytorch-AdaIN's network
  structure (``nn.Sequential`` of ``ReflectionPad2d`` + ``Conv2d`` + out-of-place ``ReLU`` ...)
  built from the same plan and weights, eager float32 NCHW under ``torch.inference_mode``;
* **engine**: :meth:`AdaINModel.stylize` (the public API, tensors in and out) with the case's
  :class:`~adain_nst.engine.InferenceOptions` and precision.

Seeds are pinned per case; the first call is untimed (its time is kept as ``first_call_s``)
and, at <= 256 px, checked against the reference's output.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..architecture import DecoderConfig, EncoderConfig
from ..engine import runtime
from ..errors import DeviceError, InputError, WeightsNotFoundError
from ..model import AdaINModel
from ..nn.decoder import Decoder
from ..nn.encoder import VGGEncoder
from ..nn.reference import ReferenceAdaIN
from ..pipeline import pad_to_multiple
from .cases import BenchConfig, Case, default_cases
from .flops import stylize_flops
from .measure import PeakMemory, machine_info, measure, sync

MODELS = ("full", "cd16x")
CD16X_WIDTHS = (16, 32, 64, 128, 128)
TINY_WIDTHS = (4, 8, 16, 32, 32)


@dataclass
class Result:
    """A case's measurements (seconds, MiB, GFLOP); ``status`` is ``ok``, ``ok (contended)`` or why not.

    ``dtype`` names the precision that ran (``float32``, ``bfloat16``, ``float16``).
    """

    case: Case
    status: str = "ok"
    dtype: str | None = None
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
        """JSON-ready dict; ``case.options`` as a dict and ``id`` = the case id."""
        d = asdict(self)
        d["case"] = {**asdict(self.case), "options": dict(self.case.options)}
        d["id"] = self.case.id
        return d


def build_model(
    name: str, *, weights_dir: str | os.PathLike[str] | None = None, tiny: bool = False
) -> tuple[AdaINModel, str]:
    """The model of a case (eval mode, seed 0) and where its weights came from.

    Args:
        name: ``"full"``: random weights of VGG-19 widths (64, 128, 256, 512; speed does not
            depend on the values). ``"cd16x"``: ``e4.pth``/``d4.pth`` from ``weights_dir``,
            or random weights of the cd16x widths without it.
        weights_dir: the cd16x weights folder (ignored for ``full``).
        tiny: widths 4..32 whatever the name (tests).

    Raises:
        InputError: unknown ``name``.
        WeightsNotFoundError: ``weights_dir`` lacks ``e4.pth`` or ``d4.pth``.
    """
    if name not in MODELS:
        raise InputError(f"unknown benchmark model {name!r}; expected one of {MODELS}")
    torch.manual_seed(0)
    if tiny:
        enc, dec = VGGEncoder(EncoderConfig(widths=TINY_WIDTHS)), Decoder(DecoderConfig(widths=TINY_WIDTHS[:4]))
        return AdaINModel(enc, dec).eval(), "random (tiny)"
    if name == "full":
        return AdaINModel(VGGEncoder(EncoderConfig()), Decoder(DecoderConfig())).eval(), "random (VGG-19 widths)"
    if weights_dir is not None:
        folder = Path(weights_dir)
        missing = [f for f in ("e4.pth", "d4.pth") if not (folder / f).is_file()]
        if missing:
            raise WeightsNotFoundError(
                f"{folder} has no {' or '.join(missing)}: "
                "pass --cd16x-dir the folder that holds the cd16x e4.pth and d4.pth"
            )
        model = AdaINModel.from_cd16x_checkpoint(folder / "e4.pth", folder / "d4.pth")
        return model, f"{folder}/e4.pth, d4.pth"
    enc = VGGEncoder(EncoderConfig(widths=CD16X_WIDTHS))
    dec = Decoder(DecoderConfig(widths=CD16X_WIDTHS[:4], final_relu=True))
    return AdaINModel(enc, dec).eval(), "random (cd16x widths; no --cd16x-dir given)"


def _fits_in_memory(model: AdaINModel, size: int, batch: int, device: torch.device) -> bool:
    """Rough check that the largest activations of a call fit: 6 live full-resolution maps + margin."""
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


def _why_not(case: Case, dtype: torch.dtype, device: torch.device) -> str | None:
    """Why ``case`` (running in ``dtype``) is skipped on this machine, or ``None``."""
    emulated_bf16 = dtype == torch.bfloat16 and device.type == "cpu" and not runtime.cpu_has_native_bf16()
    if emulated_bf16 and (case.model == "full" or case.size > 256):
        return "skipped: this CPU has no native bf16 (emulated bf16 is far slower than fp32)"
    return None


def run_case(
    case: Case,
    cfg: BenchConfig,
    models: dict[str, tuple[AdaINModel, ReferenceAdaIN]],
    expected: dict[tuple[Any, ...], Tensor] | None = None,
) -> Result:
    """Build inputs for ``case``, check a <= 256 px engine output against the reference, time it.

    ``models`` maps a model name to the model and its reference; ``expected`` caches
    reference outputs between cases (the check costs one reference call).
    """
    res = Result(case)
    device = torch.device(case.device)
    model, ref = models[case.model]
    model, ref = model.to(device), ref.to(device)
    if case.impl == "reference" and case.dtype not in ("auto", "float32"):
        res.status = "skipped: the reference is float32 only"
        return res
    try:
        dtype = runtime.resolve_dtype(case.dtype, device) if case.impl == "engine" else torch.float32
    except DeviceError as exc:  # float16 on CPU
        res.status = f"skipped: {exc}"
        return res
    res.dtype = runtime.dtype_name(dtype)
    why = _why_not(case, dtype, device)
    if why is None and not _fits_in_memory(model, case.size, case.batch, device):
        why = "skipped: not enough free memory"
    if why is not None:
        res.status = why
        return res
    if case.retain_memory:
        runtime.retain_freed_memory()
    torch.manual_seed(0)
    content = torch.rand(case.batch, 3, case.size, case.size, device=device)
    style = torch.rand(1, 3, case.size, case.size, device=device)
    res.gflop = stylize_flops(model, case.size, case.size, batch=case.batch, cached_style=case.cached_style) / 1e9
    fn: Callable[[], Tensor]
    with torch.inference_mode():
        if case.impl == "reference":
            ref_feat = ref.vgg(style)

            def fn() -> Tensor:
                return ref(content, style_feat=ref_feat) if case.cached_style else ref(content, style)

        else:
            opts = dict(case.options)
            if case.retain_memory:
                opts["retain_memory"] = "process"
            model.optimize_for_inference(dtype=dtype, **opts)
            feats = model.encode_style(style, fast=True)

            def fn() -> Tensor:
                return model.stylize(content, style_feats=feats) if case.cached_style else model.stylize(content, style)

        try:
            sync(device)
            t_first = time.perf_counter()
            out = fn()  # the first call: checked against the reference, counts as a warm-up call
            sync(device)
            res.first_call_s = time.perf_counter() - t_first
            if case.impl == "engine" and case.size <= 256 and expected is not None:
                key = (case.model, case.size, case.batch, case.device)
                if key not in expected:
                    padded, h, w = pad_to_multiple(content, model.stride)  # as stylize does
                    expected[key] = ref(padded, style)[..., :h, :w].clamp(0, 1)
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
            model.optimize_for_inference()  # back to the defaults for the next case
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    res.times = timing.times
    res.median_s, res.iqr_s, res.n = timing.median, timing.iqr, len(timing.times)
    res.cpu_s = statistics.median(timing.cpu_times)
    res.cpu_util = res.cpu_s / (res.median_s * threads) if device.type == "cpu" else None
    res.img_per_s = case.batch / res.median_s
    res.gflops_per_s = res.gflop / res.median_s
    res.peak_rss_mib, res.peak_cuda_mib = peak.rss_mib, peak.cuda_mib
    return res


def log_line(res: Result) -> str:
    """One progress line for a finished case."""
    if not res.status.startswith("ok"):
        return f"{res.case.id}: {res.status}"
    assert res.median_s is not None and res.iqr_s is not None and res.gflops_per_s is not None
    return (
        f"{res.case.id}: {res.dtype} {res.median_s * 1e3:.1f} ms (IQR {res.iqr_s * 1e3:.1f}, n={res.n}) "
        f"{res.gflops_per_s:.0f} GFLOP/s cpu_util={res.cpu_util or 0:.2f}"
    )


def run_benchmark(
    cfg: BenchConfig,
    cases: Iterable[Case] | None = None,
    *,
    log: Callable[[str], None] | None = None,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``cases`` (default: :func:`~adain_nst.bench.cases.default_cases`); return the JSON-ready report.

    The report has ``machine`` (:func:`~adain_nst.bench.measure.machine_info`), ``config``,
    ``models`` (weights source, parameter counts, GFLOP of a 512² call) and ``results``
    (:meth:`Result.to_dict` per case). ``log`` gets one line per case; ``checkpoint`` the
    report so far after every case (so an interrupted run keeps what it measured).
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
        model, source = build_model(name, weights_dir=cfg.cd16x_dir, tiny=cfg.tiny)
        models[name] = (model, ReferenceAdaIN(model.encoder, model.decoder, model.eps).eval())
        report["models"][name] = {
            "weights": source,
            "encoder_params": sum(p.numel() for p in model.encoder.parameters()),
            "decoder_params": sum(p.numel() for p in model.decoder.parameters()),
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
            log(log_line(res))
        if checkpoint:
            checkpoint(report)
    report["machine"]["wall_s"] = time.perf_counter() - t_start
    with contextlib.suppress(OSError):
        report["machine"]["loadavg_end"] = os.getloadavg()
    return report


__all__ = ["CD16X_WIDTHS", "MODELS", "Result", "build_model", "log_line", "run_benchmark", "run_case"]

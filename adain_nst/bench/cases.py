"""What the speed benchmark runs: one :class:`Case` per table row, and the default case list."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..engine import REFERENCE_LIKE, InferenceOptions

REF = "eager fp32 NCHW"
"""Label of the reference (pytorch-AdaIN-shaped ``nn.Sequential``) cases."""

GROUPS = ("latency", "ablation", "batch", "dtype", "compile", "retain")
GROUP_TITLES = {
    "latency": "Latency: reference vs engine (default options)",
    "ablation": "Ablation: engine options switched one at a time (full model, style cached)",
    "batch": "Batching: several contents with one cached style",
    "dtype": "Low-precision dtypes",
    "compile": "torch.compile of the engine",
    "retain": 'Engine with retain_memory="process" (glibc heap kept between calls)',
}


def _reference_like() -> dict[str, Any]:
    """The :data:`~adain_nst.engine.REFERENCE_LIKE` switches that differ from the default options."""
    default = InferenceOptions()
    return {
        f.name: getattr(REFERENCE_LIKE, f.name)
        for f in fields(InferenceOptions)
        if getattr(REFERENCE_LIKE, f.name) != getattr(default, f.name)
    }


_REF_OPS = _reference_like()  # channels_last, fuse_relu, subpixel, tap_output_conv, winograd off; no heap retention
_ALL_OFF = {k: v for k, v in _REF_OPS.items() if k != "retain_memory"}
ABLATIONS: tuple[tuple[str, dict[str, Any]], ...] = (  # cumulative, then single switches from the default
    ("reference-like ops", _REF_OPS),
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
"""Engine option sets of the ablation table: ``(label, InferenceOptions overrides)``."""


@dataclass(frozen=True)
class Case:
    """One benchmark configuration (one table row).

    Args:
        group: table it belongs to, one of :data:`GROUPS`.
        model: ``full`` (VGG-19 widths) or ``cd16x``.
        impl: ``reference`` or ``engine``.
        label: short name of the engine options (``default``, ``+channels_last`` ...).
        size: content and style side in px (square).
        batch: contents per call (one style).
        cached_style: style features computed once outside the timed call.
        dtype: requested precision: ``float32`` (the library default), ``bfloat16``,
            ``float16`` (CUDA) or ``auto`` (see :func:`adain_nst.engine.runtime.resolve_dtype`);
            the result records the one that ran.
        device: ``cpu``, ``cuda`` ...
        options: engine option overrides as (name, value) pairs (see :class:`~adain_nst.engine.InferenceOptions`).
        retain_memory: needs ``retain_freed_memory`` (process-wide and permanent: run last).
    """

    group: str
    model: str
    impl: str
    label: str
    size: int
    batch: int = 1
    cached_style: bool = True
    dtype: str = "float32"
    device: str = "cpu"
    options: tuple[tuple[str, Any], ...] = ()
    retain_memory: bool = False

    @property
    def id(self) -> str:
        """Stable key of the case: the group and every setting (see :func:`case_id`)."""
        return case_id(asdict(self))


def setting_key(c: dict[str, Any], dtype: str | None = None) -> str:
    """``device/model/impl:label/size/bN/style/dtype`` of a case dict (``dtype`` overrides the case's)."""
    style = "cached" if c["cached_style"] else "every"
    dt = dtype or c["dtype"]
    return f"{c['device']}/{c['model']}/{c['impl']}:{c['label']}/{c['size']}/b{c['batch']}/{style}/{dt}"


def case_id(c: dict[str, Any]) -> str:
    """``group:device/model/impl:label/size/bN/style/dtype`` of a case given as a dict (requested dtype)."""
    return f"{c['group']}:{setting_key(c)}"


def result_key(r: dict[str, Any]) -> str:
    """Key of a result dict for ``--compare`` and ``--merge``: its case with the dtype that *ran*.

    Reports written before float32 became the default requested ``auto``; keyed by the
    precision that ran, their rows match today's ``float32`` rows on the same machine.
    """
    return f"{r['case']['group']}:{setting_key(r['case'], r.get('dtype'))}"


@dataclass
class BenchConfig:
    """What to run and how long to time it; see :func:`default_cases` and ``add_arguments``.

    ``cd16x_dir`` holds the real cd16x ``e4.pth``/``d4.pth`` (random weights of the same
    widths without it); ``eval_dir`` the eval photos (``content/``, ``style/``) of the
    ``--quality`` table (smooth noise without it). Times are seconds.
    """

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
    cd16x_dir: str | None = None
    eval_dir: str | None = None


def default_cases(cfg: BenchConfig) -> list[Case]:
    """The case list: latency (reference vs engine), ablations, batching, dtypes, compile, retain."""
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
            label = 'retain_memory="process"'
            for model in cfg.models:
                for size in tuple(x for x in sizes if not cfg.quick or x == 512):
                    for cached in (False, True):
                        cases.append(
                            Case("retain", model, "engine", label, size, 1, cached, device=dev, retain_memory=True)
                        )
    return cases


def select_cases(
    cases: list[Case], *, groups: tuple[str, ...] | None = None, impl: str | None = None, style: str | None = None
) -> list[Case]:
    """The cases in ``groups`` (all when empty), of ``impl``, and with the style ``"every"``/``"cached"``."""
    return [
        c
        for c in cases
        if (not groups or c.group in groups)
        and (not impl or c.impl == impl)
        and (not style or c.cached_style == (style == "cached"))
    ]


__all__ = [
    "ABLATIONS",
    "GROUPS",
    "GROUP_TITLES",
    "REF",
    "BenchConfig",
    "Case",
    "case_id",
    "default_cases",
    "result_key",
    "select_cases",
    "setting_key",
]

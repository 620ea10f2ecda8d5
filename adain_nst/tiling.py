"""Planning of tiled (high-resolution) stylisation: tile grids with halos, memory estimates, budgets.

Pure arithmetic on the layer plan (:mod:`adain_nst.architecture`); nothing here runs a network
(the two-pass execution is :mod:`adain_nst.tiled`). Every level of a cascade is tiled on its own
(:class:`LevelTiling`): pass 1 encodes windows of ``core + stats halo`` for the statistics, pass 2
encodes and decodes windows of ``core + halo``, or, when the level's features are *cached* by
pass 1 (a full-size feature map on the host), only decodes windows of ``core + decoder halo``.

The memory model, in bytes:

* **per tile** (:meth:`LevelPlan.pass_bytes`): the network's working set on the window,
  :data:`TILE_MEMORY_FACTOR` x the values of its widest conv (input + output channels at that
  conv's resolution: the rule of the whole-image :func:`adain_nst.pipeline.estimate_memory`),
  plus the window's images (float32 in, a copy in the compute dtype, float32 out), the features
  and the transform's temporaries (:data:`TRANSFORM_VALUES` per feature value);
* **per level**: the cached feature map, if any (float32, channels x the padded image / stride^2);
* **fixed** (:func:`fixed_bytes`, host RAM on CPU only): the content and the output held whole
  (3 bytes per pixel as uint8, 12 as float32), the full-image intermediates between levels of a
  cascade (one for two levels, two from three on; float32, or float16 when that buys much cheaper
  tiles), the region masks (4 bytes per pixel per mask) and the streamed statistics.

A budget (``max_memory``) is met level by level by the cheapest option (cached or not, the core
size; cost: the pixels the encoder and decoder run over, weighted by their FLOPs) whose tile plus
the fixed part fits; when the smallest tile of some level does not fit,
:class:`~adain_nst.errors.MemoryBudgetError` states the minimum.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .architecture import Op, conv_costs, flops, output_size, receptive_field, stride
from .errors import InputError, MemoryBudgetError

MEMORY_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
"""Units :func:`parse_memory` reads (case-insensitive): decimal ``KB``..``TB``, binary ``KiB``..``TiB``."""

TILE_MEMORY_FACTOR = 3.2
"""Peak bytes of the network on one window over the values of its widest conv (see the module doc).

Measured on CPU, float32, cd16x family: the growth of the process's peak RSS (VmHWM) over
whole tiled calls (see ``tests/test_tiling.py``)."""

TRANSFORM_VALUES = {"adain": 3, "wct": 6, "efdm": 8}
"""Bytes / 4 held per feature value by a window's transform: the float32 features, the target and
the transform's own temporaries (WCT: a float64 copy for the moments; EFDM: float64 levels and
int64 bin indices, in channel chunks). Masks add :data:`REGION_VALUES` per region."""

REGION_VALUES = 2
STATISTICS_CHUNK_VALUES = 2**21
"""Feature values per chunk while a tile's statistics are summed (three float64 temporaries of it)."""

EFDM_EXACT_VALUES = 6
"""Bytes / 4 per feature value while a cached level's EFDM sorts its whole map (chunks of channels:
the values, the int64 order, the matched values, the mix)."""

HISTOGRAM_BINS = 40 * 256
"""Bins of the streamed EFDM histograms (:mod:`adain_nst.nn.global_stats`)."""

MIN_AUTO_TILE = 256
"""Smallest core side (px) an automatic (budget-free) plan uses when memory is short anyway."""

CACHE_MODES = (None, True, False)
MAX_PARTS = 256
"""Most tiles along an image's longer side a budget plan considers (cores of at least side / 256)."""


def parse_memory(value: int | str, name: str = "max_memory") -> int:
    """Bytes from an int or a string with a unit: ``"2GB"`` = 2e9, ``"2GiB"`` = 2**31, ``"512 MB"``.

    Units are those of :data:`MEMORY_UNITS` (case-insensitive); a bare number (int or string) is
    bytes. Booleans, floats, zero, negative and unknown units raise :class:`InputError`.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(f"{name} must be an int (bytes) or a string such as '2GB' or '2GiB', got {value!r}")
    if isinstance(value, int):
        amount = value
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*", value)
        unit = match.group(2).lower() if match else ""
        if match is None or (unit and unit not in MEMORY_UNITS):
            units = ", ".join(u.upper().replace("I", "i") for u in MEMORY_UNITS)
            raise InputError(
                f"{name}={value!r} is not an amount of memory: use bytes, or a number with a unit ({units})"
            )
        amount = int(float(match.group(1)) * MEMORY_UNITS[unit or "b"])
    if amount < 1:
        raise InputError(f"{name} must be positive, got {value!r}")
    return amount


def format_bytes(n: int) -> str:
    """``n`` bytes for messages: ``"1.50 GB"``, ``"320.0 MB"`` (decimal units, as ``max_memory`` reads them)."""
    return f"{n / 1e9:.2f} GB" if n >= 10**9 else f"{n / 1e6:.1f} MB"


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# -- levels ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelPlan:
    """One level of a cascade as tiling sees it: its encoder and decoder op lists.

    Args:
        level: the layer name (``"relu4_1"``).
        encoder: the encoder's ops up to ``level`` (:func:`~adain_nst.architecture.encoder_ops`).
        decoder: the decoder's ops (:func:`~adain_nst.architecture.decoder_ops`).
    """

    level: str
    encoder: tuple[Op, ...]
    decoder: tuple[Op, ...]

    @property
    def stride(self) -> int:
        """Input pixels per feature pixel (tiles and the padded image are multiples of it)."""
        return stride(list(self.encoder))

    @property
    def channels(self) -> int:
        """Channels of the features at ``level``."""
        return self.encoder[-1].out_channels

    @property
    def halo(self) -> int:
        """Pixels of context each side of a core for an exact output of encoder + decoder (pass 2
        uncached): half their receptive field, rounded up to the stride."""
        return _round_up(math.ceil(receptive_field([*self.encoder, *self.decoder]) / 2), self.stride)

    @property
    def stats_halo(self) -> int:
        """The same for exact features of the core (pass 1): half the encoder's receptive field."""
        return _round_up(math.ceil(receptive_field(list(self.encoder)) / 2), self.stride)

    @property
    def decoder_halo(self) -> int:
        """The same for the decoder alone on cached features (pass 2 cached), in pixels: half its
        receptive field (in features) plus one feature for the upsampling's rounding, x the stride."""
        return (math.ceil(receptive_field(list(self.decoder)) / 2) + 1) * self.stride

    def flops_per_pixel(self, part: str) -> float:
        """Conv FLOPs per input pixel of the ``"encoder"`` or the ``"decoder"`` (per output pixel)."""
        return _flops_per_pixel(self.encoder, self.decoder, part)

    def feature_bytes(self, height: int, width: int, *, batch: int = 1) -> int:
        """Float32 features of a ``height x width`` image (multiples of the stride)."""
        fh, fw = output_size(list(self.encoder), height, width)
        return 4 * self.channels * fh * fw * batch

    def network_bytes(
        self, height: int, width: int, *, parts: str = "both", bytes_per_value: int = 4, batch: int = 1
    ) -> int:
        """Estimated peak bytes of the ``"encoder"``, the ``"decoder"`` or ``"both"`` on a ``height x width`` window."""
        fh, fw = output_size(list(self.encoder), height, width)
        costs = []
        if parts in ("encoder", "both"):
            costs += conv_costs(list(self.encoder), height, width, batch=batch)
        if parts in ("decoder", "both"):
            costs += conv_costs(list(self.decoder), fh, fw, batch=batch)
        widest = max((c.in_channels + c.out_channels) * c.height * c.width * c.batch for c in costs)
        return int(TILE_MEMORY_FACTOR * widest * bytes_per_value)

    def pass_bytes(
        self,
        height: int,
        width: int,
        *,
        statistics: bool,
        cached: bool = False,
        transform: str = "adain",
        regions: int = 0,
        bytes_per_value: int = 4,
        batch: int = 1,
    ) -> int:
        """Estimated peak bytes of one tile of pass 1 (``statistics``) or pass 2 on a ``height x width`` window."""
        features = self.feature_bytes(height, width, batch=batch)
        pixels = height * width * batch
        if statistics:
            net = self.network_bytes(height, width, parts="encoder", bytes_per_value=bytes_per_value, batch=batch)
            chunk = 3 * 8 * min(features // 4, STATISTICS_CHUNK_VALUES)
            return net + 3 * (4 + bytes_per_value) * pixels + 2 * features + chunk
        values = TRANSFORM_VALUES.get(transform, max(TRANSFORM_VALUES.values())) + REGION_VALUES * regions
        parts = "decoder" if cached else "both"
        net = self.network_bytes(height, width, parts=parts, bytes_per_value=bytes_per_value, batch=batch)
        images = 3 * 4 * pixels + (0 if cached else 3 * (4 + bytes_per_value) * pixels)
        return net + images + values * features + 4 * regions * pixels


@functools.cache
def _flops_per_pixel(encoder: tuple[Op, ...], decoder: tuple[Op, ...], part: str) -> float:
    side = 64 * stride(list(encoder))
    if part == "encoder":
        return flops(list(encoder), side, side) / side**2
    fh, fw = output_size(list(encoder), side, side)
    return flops(list(decoder), fh, fw) / side**2


# -- the grid -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """A half-open pixel rectangle ``[y0, y1) x [x0, x1)``."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def clip(self, height: int, width: int) -> Box:
        """This box cut to ``[0, height) x [0, width)``."""
        return Box(max(self.y0, 0), min(self.y1, height), max(self.x0, 0), min(self.x1, width))

    def scaled(self, factor: int) -> Box:
        """This box divided by ``factor`` (pixels to features; the box must be aligned to it)."""
        return Box(self.y0 // factor, self.y1 // factor, self.x0 // factor, self.x1 // factor)


@dataclass(frozen=True)
class Tile:
    """One tile: its ``core`` (the output it writes) inside its ``window`` (core + halo, what it reads).

    Both in the coordinates of the image padded to the level's stride.
    """

    core: Box
    window: Box


def _cuts(length: int, tile: int, multiple: int) -> list[int]:
    """Boundaries ``0 = c_0 < ... < c_n = length`` of ``n = ceil(length / tile)`` near-equal parts,
    each a multiple of ``multiple`` (``length`` must be one)."""
    units = length // multiple
    n = max(1, -(-length // tile))
    return [round(i * units / n) * multiple for i in range(n + 1)]


def _grid_shape(length: int, tile: int, multiple: int, halo: int) -> tuple[int, int]:
    """``(parts, window)`` of one axis: how many cores, and the (uniform) window length."""
    units = length // multiple
    n = max(1, -(-length // tile))
    core = -(-units // n) * multiple
    return n, min(core + 2 * halo, length)


def _windows(cuts: list[int], length: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Per part ``(core0, core1, win0, win1)``: windows all of one length, shifted inside ``[0, length)``."""
    longest = max(b - a for a, b in itertools.pairwise(cuts))
    span = min(longest + 2 * halo, length)
    out = []
    for a, b in itertools.pairwise(cuts):
        start = min(max(a - halo, 0), length - span)
        out.append((a, b, start, start + span))
    return out


def tile_grid(height: int, width: int, tile: int, multiple: int, halo: int) -> list[Tile]:
    """Tiles covering a ``height x width`` image padded to ``multiple``, row by row.

    Cores are near-equal (never a sliver at the edge), at most ``tile`` px a side (rounded up to
    ``multiple``) and aligned to ``multiple``, so the network's pooling grid is the whole image's
    (``halo`` is rounded up to ``multiple`` too).
    Every window has the same size, ``core + 2 * halo`` (or the padded image's side): at the
    image's border it is shifted inwards rather than cut (its border is then the image's own,
    padded as without tiles), so each core has at least ``halo`` px of real context on every side
    that is not the image border, and same-sized windows reuse the same memory tile after tile.
    """
    if tile < 1 or multiple < 1 or halo < 0:
        raise InputError(f"tile_grid needs tile >= 1, multiple >= 1, halo >= 0; got {tile}, {multiple}, {halo}")
    core, halo = _round_up(tile, multiple), _round_up(halo, multiple)
    ph, pw = _round_up(height, multiple), _round_up(width, multiple)
    rows = _windows(_cuts(ph, core, multiple), ph, halo)
    cols = _windows(_cuts(pw, core, multiple), pw, halo)
    return [
        Tile(Box(r0, r1, c0, c1), Box(wy0, wy1, wx0, wx1)) for r0, r1, wy0, wy1 in rows for c0, c1, wx0, wx1 in cols
    ]


# -- whole plans ----------------------------------------------------------------------------------------
BUFFER_BYTES = {"float32": 4, "float16": 2}


def intermediate_count(levels: int) -> int:
    """Full-image buffers a cascade of ``levels`` levels holds between them: 0, 1, then 2 (ping-pong)."""
    return min(max(levels - 1, 0), 2)


def fixed_bytes(
    height: int,
    width: int,
    levels: int,
    *,
    buffer: str = "float32",
    batch: int = 1,
    content_bytes: int = 3,
    output_bytes: int = 3,
    regions: int = 0,
    statistics: int = 0,
) -> int:
    """Host bytes held for the whole call: content, output, intermediates, masks and statistics.

    ``content_bytes`` / ``output_bytes``: per pixel and image (3 for uint8 RGB, 12 for float32);
    ``buffer``: the intermediates' dtype (``"float32"`` or ``"float16"``); ``regions``: masks
    held at the content's size (float32); ``statistics``: bytes of the streamed statistics.
    """
    pixels = height * width * batch
    inter = intermediate_count(levels) * 3 * BUFFER_BYTES[buffer]
    return pixels * (content_bytes + output_bytes + inter + 4 * regions) + statistics


@dataclass(frozen=True)
class LevelTiling:
    """How one level runs: cores of ``tile`` px, features ``cached`` by pass 1 or not, and the
    level's estimated peak beyond the fixed part (``peak``: its biggest tile plus its cache)."""

    tile: int
    cached: bool
    peak: int
    cost: float = 0.0


@dataclass(frozen=True)
class TilePlan:
    """How one call runs in tiles: per level its tiling, the intermediates' dtype, the memory estimate.

    ``buffer``: the dtype of the intermediate images between levels (``"float32"``/``"float16"``);
    ``fixed``: bytes held for the whole call (:func:`fixed_bytes`); ``budget``: the bound it was
    planned for (``None``: none, e.g. an explicit tile size).
    """

    height: int
    width: int
    levels: tuple[LevelPlan, ...]
    tilings: tuple[LevelTiling, ...]
    buffer: str = "float32"
    fixed: int = 0
    budget: int | None = None
    batch: int = 1

    @property
    def peak(self) -> int:
        """Estimated peak bytes of the call: the fixed part plus the costliest level's tile (and cache)."""
        return self.fixed + max(t.peak for t in self.tilings)

    @property
    def tile(self) -> int:
        """The largest core side over the levels (px)."""
        return max(t.tile for t in self.tilings)

    def halo(self, index: int, *, statistics: bool = False) -> int:
        """The halo (px) of level ``index`` in pass 1 (``statistics``) or pass 2."""
        lvl, tiling = self.levels[index], self.tilings[index]
        if statistics:
            return lvl.stats_halo
        return lvl.decoder_halo if tiling.cached else lvl.halo

    def tiles(self, index: int, *, statistics: bool = False) -> list[Tile]:
        """The tiles of level ``index`` for pass 1 (``statistics``) or pass 2."""
        lvl, halo = self.levels[index], self.halo(index, statistics=statistics)
        return tile_grid(self.height, self.width, self.tilings[index].tile, lvl.stride, halo)

    def count(self) -> int:
        """Tile passes of the whole call (both passes of every level): the progress bar's total."""
        return sum(len(self.tiles(i, statistics=True)) + len(self.tiles(i)) for i in range(len(self.levels)))

    def describe(self) -> str:
        """A one-line summary: ``"5 levels in 6-20 tiles of up to 1504 px (2 cached), about 1.83 GB"``."""
        counts = [len(self.tiles(i)) for i in range(len(self.levels))]
        n = f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else f"{counts[0]}"
        cached = sum(t.cached for t in self.tilings)
        what = f"{len(self.levels)} level{'s' if len(self.levels) > 1 else ''} in {n} tiles of up to {self.tile} px"
        return what + (f" ({cached} with cached features)" if cached else "") + f", about {format_bytes(self.peak)}"


def _level_option(
    lvl: LevelPlan,
    height: int,
    width: int,
    tile: int,
    cached: bool,
    *,
    transform: str,
    regions: int,
    bytes_per_value: int,
    batch: int,
) -> LevelTiling:
    """The estimate (peak, cost) of one level with cores of ``tile`` px."""
    s = lvl.stride
    ph, pw = _round_up(height, s), _round_up(width, s)
    opts: dict[str, Any] = dict(transform=transform, regions=regions, bytes_per_value=bytes_per_value, batch=batch)
    peak, cost = 0, 0.0
    for statistics in (True, False):
        halo = lvl.stats_halo if statistics else (lvl.decoder_halo if cached else lvl.halo)
        ny, wh = _grid_shape(ph, tile, s, halo)
        nx, ww = _grid_shape(pw, tile, s, halo)
        peak = max(peak, lvl.pass_bytes(wh, ww, statistics=statistics, cached=cached, **opts))
        if statistics:
            per_pixel = lvl.flops_per_pixel("encoder")
        else:
            per_pixel = lvl.flops_per_pixel("decoder") + (0.0 if cached else lvl.flops_per_pixel("encoder"))
        cost += ny * nx * wh * ww * per_pixel * batch
    if cached:
        features = lvl.feature_bytes(ph, pw, batch=batch)
        exact = min(EFDM_EXACT_VALUES * features, EFDM_EXACT_VALUES * 4 * 2**22) if transform == "efdm" else 0
        peak = max(peak, exact) + features
    return LevelTiling(tile, cached, peak, cost)


def plan_tiles(
    levels: Sequence[LevelPlan],
    height: int,
    width: int,
    *,
    budget: int | None = None,
    tile: int | None = None,
    cache: bool | None = None,
    transform: str = "adain",
    batch: int = 1,
    bytes_per_value: int = 4,
    content_bytes: int = 3,
    output_bytes: int = 3,
    regions: int = 0,
    host: bool = True,
    strict: bool = True,
) -> TilePlan:
    """The tiling of a ``height x width`` stylisation with ``levels`` under ``budget`` bytes.

    Args:
        levels: the cascade's levels, coarse to fine.
        budget: bytes the call may use (``None``: no bound).
        tile: cores of this side (px, rounded up to each level's stride) instead of the cheapest
            that fit; the budget (if any) is then only checked.
        cache: cache every level's features (``True``), none (``False``) or each where it is
            cheaper and fits (``None``; for EFDM wherever it fits: its exact ranks need the whole map).
        transform: ``"adain"``, ``"wct"`` or ``"efdm"`` (its temporaries, its statistics).
        batch: images per call; ``bytes_per_value``: 4 (float32) or 2 (bf16/fp16 compute).
        content_bytes, output_bytes: per pixel of the content and the output held whole.
        regions: number of masks (held at the content's size; their statistics).
        host: whether the whole-image buffers and caches count against ``budget`` (CPU: yes; on
            CUDA the budget bounds device memory, and they live in host RAM).
        strict: raise :class:`MemoryBudgetError` when even the smallest tiles exceed ``budget``;
            ``False`` returns small tiles instead (automatic tiling: it runs, with a warning).

    Returns:
        A :class:`TilePlan`. Intermediates are float32 unless float16 lets the tiles cost at
        least 10 % less compute (bigger cores, less halo).
    """
    if not levels:
        raise InputError("a tile plan needs at least one level")
    if tile is None and budget is None:
        raise InputError("plan_tiles needs a budget or a tile size")
    if cache not in CACHE_MODES:
        raise InputError(f"cache must be True, False or None, got {cache!r}")
    channels = max(lvl.channels for lvl in levels)
    per_group = {"efdm": HISTOGRAM_BINS * 8, "wct": channels * 8}.get(transform, 16)
    statistics = 2 * batch * (regions + 1) * channels * per_group
    opts: dict[str, Any] = dict(transform=transform, regions=regions, bytes_per_value=bytes_per_value, batch=batch)

    def fixed(buffer: str) -> int:
        if not host:
            return 0
        return fixed_bytes(
            height,
            width,
            len(levels),
            buffer=buffer,
            batch=batch,
            content_bytes=content_bytes,
            output_bytes=output_bytes,
            regions=regions,
            statistics=statistics,
        )

    def option(lvl: LevelPlan, core: int, cached: bool) -> LevelTiling:
        o = _level_option(lvl, height, width, core, cached, **opts)
        if cached and not host:  # the cache lives on the host; the budget bounds the device
            o = LevelTiling(o.tile, o.cached, o.peak - lvl.feature_bytes(height, width, batch=batch), o.cost)
        return o

    def best(lvl: LevelPlan, room: int | None) -> LevelTiling | None:
        """The cheapest option of ``lvl`` that fits ``room`` bytes (``None``: any)."""
        modes = [cache] if cache is not None else [False, True]
        if cache is None and transform == "efdm":  # cached: EFDM's exact ranks (else a histogram)
            cached_only = best_of(lvl, room, [True])
            if cached_only is not None:
                return cached_only
        return best_of(lvl, room, modes)

    def best_of(lvl: LevelPlan, room: int | None, modes: list[bool]) -> LevelTiling | None:
        """The cheapest option of ``lvl`` in ``modes`` (cached or not) that fits ``room``."""
        s = lvl.stride
        side = _round_up(max(height, width), s)
        if tile is not None:
            cores = [_round_up(tile, s)]
        else:  # one core per distinct number of parts along the longer side (at most MAX_PARTS)
            cores = sorted({_round_up(-(-side // n), s) for n in range(1, min(MAX_PARTS, side // s) + 1)} | {s})
        found: LevelTiling | None = None
        for cached in modes:
            for core in cores:
                o = option(lvl, core, cached)
                if room is not None and o.peak > room:
                    break  # peaks grow with the core: bigger ones do not fit either
                if found is None or o.cost < found.cost or (o.cost == found.cost and o.peak < found.peak):
                    found = o
        return found

    buffers = ("float32", "float16") if intermediate_count(len(levels)) else ("float32",)
    plans: list[TilePlan] = []
    for buffer in buffers:
        room = None if budget is None else budget - fixed(buffer)
        if room is not None and room <= 0:
            continue
        chosen = [best(lvl, room) for lvl in levels]
        if all(c is not None for c in chosen):
            tilings = tuple(c for c in chosen if c is not None)
            plans.append(TilePlan(height, width, tuple(levels), tilings, buffer, fixed(buffer), budget, batch))
    if plans:
        if len(plans) == 2:
            f32, f16 = plans
            cost32, cost16 = (sum(t.cost for t in p.tilings) for p in plans)
            return f16 if cost16 < 0.9 * cost32 else f32
        return plans[0]
    # Nothing fits: the smallest tiles (not cached), to state the minimum or to run anyway.
    buffer = buffers[-1]
    smallest = []
    for lvl in levels:
        core = _round_up(tile, lvl.stride) if tile is not None else lvl.stride
        smallest.append(option(lvl, core, False) if cache is not True else option(lvl, core, True))
    minimum = TilePlan(height, width, tuple(levels), tuple(smallest), buffer, fixed(buffer), budget, batch)
    if strict:
        assert budget is not None
        what = f"tiles of {tile} px" if tile is not None else "the smallest tiles"
        raise MemoryBudgetError(
            f"max_memory={format_bytes(budget)} is below the minimum of {format_bytes(minimum.peak)} for a "
            f"{width}x{height} px image with this model ({what} plus {format_bytes(minimum.fixed)} for the "
            f"whole images held): pass max_memory={format_bytes(minimum.peak)} or more, or content_size=..."
        )
    auto = []
    for lvl in levels:
        core = _round_up(tile if tile is not None else MIN_AUTO_TILE, lvl.stride)
        auto.append(option(lvl, core, False))
    return TilePlan(height, width, tuple(levels), tuple(auto), buffer, fixed(buffer), budget, batch)


__all__ = [
    "BUFFER_BYTES",
    "CACHE_MODES",
    "EFDM_EXACT_VALUES",
    "HISTOGRAM_BINS",
    "MAX_PARTS",
    "MEMORY_UNITS",
    "MIN_AUTO_TILE",
    "REGION_VALUES",
    "STATISTICS_CHUNK_VALUES",
    "TILE_MEMORY_FACTOR",
    "TRANSFORM_VALUES",
    "Box",
    "LevelPlan",
    "LevelTiling",
    "Tile",
    "TilePlan",
    "fixed_bytes",
    "format_bytes",
    "intermediate_count",
    "parse_memory",
    "plan_tiles",
    "tile_grid",
]

"""A whole image's feature statistics streamed tile by tile, and the transforms applied with them.

Tiled stylisation (:mod:`adain_nst.tiled`) runs every level in two passes over the tiles: pass 1
feeds each tile core's features to :meth:`StreamedStatistics.update`; pass 2 transforms every
tile's features with a :class:`GlobalTransform` built from the totals, so each tile is
transformed with the statistics of the whole image, as without tiles:

* **AdaIN**: per channel the sums of ``x - k`` and ``(x - k)^2`` (``k``: the first tile's channel
  means, a shift that keeps the variance from cancelling; float32 within chunks of positions,
  float64 across chunks and tiles) give the mean and the unbiased variance of
  :func:`~adain_nst.nn.transforms.calc_mean_std` (to ~1e-7).
* **WCT**: the same with the channel cross-products, all in float64: the mean and covariance of
  :func:`~adain_nst.nn.transforms.wct` (then the same float64 eigendecompositions).
* **EFDM**: per channel a histogram of the values (:data:`BINS_PER_OCTAVE` log-spaced bins per
  octave over ``2^-20 .. 2^20``, float64 counts) and the count of exact zeros (ReLU's ties). A
  value's level (its rank / N, the quantile of the style it takes) is read from the cumulative
  histogram, linearly within its bin: the rank error is below the share of the values that fall
  in one bin (values within 0.27 % of each other), measured ~1e-4 of the rank on real features.
  Exact zeros, whose order in an exact sort is arbitrary (``argsort`` is not stable), are
  spread over the zeros' share of the ranks by a hash of their position, so the output still
  takes the style's whole distribution.
* **masks**: the same sums weighted by each region's mask (``w`` clamped to [0, 1]), and
  ``V1 = sum w``, ``V2 = sum w^2`` for the reliability-weight denominator and the small-region
  rule of :func:`~adain_nst.nn.transforms.region_weights` (a region under
  :data:`~adain_nst.nn.transforms.MIN_REGION_SIZE` effective positions takes the whole map's
  statistics), so :func:`~adain_nst.nn.transforms.region_mix` composes with tiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..errors import InputError
from .transforms import MIN_REGION_SIZE, adain_scale_shift, check_transform, wct_matrix_from_moments

BINS_PER_OCTAVE = 256
OCTAVES = (-20, 20)
"""The EFDM histogram's range, in powers of two; values outside it share the first or last bin."""
BINS = (OCTAVES[1] - OCTAVES[0]) * BINS_PER_OCTAVE

_CHUNK_VALUES = 1 << 21  # values per float64 temporary (16 MB) while accumulating or applying


def _bin_position(x: Tensor) -> Tensor:
    """Where the values of ``x`` fall on the histogram's axis, in bins (float32, in [0, BINS])."""
    lg = torch.log2(x.float().clamp_min(2.0 ** OCTAVES[0]))
    return ((lg - OCTAVES[0]) * BINS_PER_OCTAVE).clamp_(0.0, float(BINS))


def _bins(pos: Tensor) -> Tensor:
    return pos.floor().long().clamp_(0, BINS - 1)


def _mix(v: Tensor) -> Tensor:
    """An integer hash of non-negative int64 values below 2^31 (no overflow), 31 bits out."""
    v = v & 0x7FFFFFFF
    v = ((v ^ (v >> 15)) * 0x2C1B3C6D) & 0x7FFFFFFF
    v = ((v ^ (v >> 12)) * 0x297A2D39) & 0x7FFFFFFF
    return v ^ (v >> 15)


def position_noise(batch: int, channels: Sequence[int], origin: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """A deterministic uniform value in (0, 1) per position of a feature window: ``(B, len(channels), h * w)``.

    The value depends only on the batch index, the channel and the position in the whole image's
    feature map (``origin`` + the position in the window), so tiles agree where they overlap.
    """
    h, w = size
    gy = torch.arange(origin[0], origin[0] + h, dtype=torch.int64).view(1, 1, h, 1)
    gx = torch.arange(origin[1], origin[1] + w, dtype=torch.int64).view(1, 1, 1, w)
    b = torch.arange(batch, dtype=torch.int64).view(batch, 1, 1, 1)
    c = torch.as_tensor(list(channels), dtype=torch.int64).view(1, -1, 1, 1)
    key = _mix(_mix(_mix(gy * 7919 + b) ^ gx) ^ (c * 104729))
    return ((key.double() + 0.5) / 2.0**31).expand(batch, len(channels), h, w).reshape(batch, len(channels), h * w)


class StreamedStatistics:
    """The content statistics of one level for ``transform``, accumulated tile by tile.

    Args:
        transform: ``"adain"`` (means and variances), ``"wct"`` (means and covariances) or
            ``"efdm"`` (histograms).
        batch: images per call; channels: feature channels.
        regions: number of masks (their weighted statistics are kept beside the whole map's).

    Feed every feature position exactly once (the tile cores) with :meth:`update`; read with
    :meth:`mean_var`, :meth:`mean_cov` or :meth:`levels` (group 0 is the whole map, group
    ``k + 1`` region ``k``).
    """

    def __init__(
        self, transform: str, *, batch: int, channels: int, regions: int = 0, device: torch.device | str = "cpu"
    ) -> None:
        self.transform = check_transform(transform)
        self.batch, self.channels, self.regions = batch, channels, regions
        self.device = torch.device(device)
        groups = regions + 1
        opts = {"dtype": torch.float64, "device": self.device}
        self.v1 = torch.zeros(batch, groups, **opts)
        self.v2 = torch.zeros(batch, groups, **opts)
        self.shift: Tensor | None = None  # (B, C, 1) float64
        self.s1 = torch.zeros(batch, groups, channels, **opts)
        if self.transform == "wct":
            self.s2 = torch.zeros(batch, groups, channels, channels, **opts)
        elif self.transform == "adain":
            self.s2 = torch.zeros(batch, groups, channels, **opts)
        else:
            self.hist = torch.zeros(batch, groups, channels, BINS, **opts)
            self.zeros = torch.zeros(batch, groups, channels, **opts)
            self._cumulative: Tensor | None = None
        self._final = False

    # -- pass 1 ---------------------------------------------------------------------------------------
    def _weights(self, masks: Tensor | None, n: int) -> list[Tensor | None]:
        if masks is None:
            if self.regions:
                raise InputError(f"statistics for {self.regions} region(s) need their masks")
            return [None]
        if masks.dim() != 4 or masks.shape[1] != self.regions or masks.shape[0] not in (1, self.batch):
            raise InputError(f"masks must be (1 or {self.batch}, {self.regions}, h, w), got {tuple(masks.shape)}")
        flat = masks.reshape(masks.shape[0], self.regions, n).double().clamp(0.0, 1.0).expand(self.batch, -1, -1)
        return [None, *flat.unbind(1)]

    def update(self, feat: Tensor, masks: Tensor | None = None) -> None:
        """Add the features ``(B, C, h, w)`` of one tile core (and its masks ``(1 or B, K, h, w)``)."""
        if self._final:
            raise RuntimeError("these statistics were already read; make a new StreamedStatistics")
        b, c, h, w = feat.shape
        if b != self.batch or c != self.channels:
            raise InputError(f"features must be ({self.batch}, {self.channels}, h, w), got {tuple(feat.shape)}")
        n = h * w
        x = feat.to(self.device, torch.float32).reshape(b, c, n)
        weights = self._weights(None if masks is None else masks.to(self.device), n)
        self.v1[:, 0] += n
        self.v2[:, 0] += n
        for g, wt in enumerate(weights[1:], start=1):
            self.v1[:, g] += wt.sum(-1)
            self.v2[:, g] += (wt * wt).sum(-1)
        if self.transform != "efdm" and self.shift is None:
            self.shift = x.mean(-1, keepdim=True).double()
        step = max(1, _CHUNK_VALUES // max(1, b * c))
        for p0 in range(0, n, step):
            part = x[:, :, p0 : p0 + step]
            wparts = [None if wt is None else wt[:, None, p0 : p0 + step] for wt in weights]
            if self.transform == "efdm":
                self._add_histogram(part, wparts)
            else:
                self._add_moments(part, wparts)

    def _add_moments(self, part: Tensor, weights: list[Tensor | None]) -> None:
        assert self.shift is not None
        if self.transform == "wct":  # covariances in float64, as wct() computes them
            d = part.double() - self.shift
            for g, wt in enumerate(weights):
                dw = d if wt is None else d * wt
                self.s1[:, g] += dw.sum(-1)
                self.s2[:, g] += torch.bmm(dw, d.transpose(1, 2))
            return
        # AdaIN: float32 sums of the shifted values within the chunk (pairwise: ~1e-7 relative),
        # float64 across chunks and tiles
        d = part - self.shift.float()
        for g, wt in enumerate(weights):
            dw = d if wt is None else d * wt.float()
            self.s1[:, g] += dw.sum(-1).double()
            self.s2[:, g] += (dw * d).sum(-1).double()

    def _add_histogram(self, part: Tensor, weights: list[Tensor | None]) -> None:
        b, c, n = part.shape
        zero = part <= 0
        index = _bins(_bin_position(part))
        index += torch.arange(b * c, device=index.device).view(b, c, 1) * BINS
        flat = index.flatten()
        positive = (~zero).flatten()
        for g, wt in enumerate(weights):
            if wt is None:
                self.zeros[:, g] += zero.sum(-1)
                counts = torch.bincount(flat[positive], minlength=b * c * BINS)
            else:
                full = wt.expand(b, c, n)
                self.zeros[:, g] += (full * zero).sum(-1)
                counts = torch.bincount(flat[positive], weights=full.flatten()[positive], minlength=b * c * BINS)
            self.hist[:, g] += counts.view(b, c, BINS)

    # -- results --------------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Give regions too small for statistics of their own the whole map's (``region_weights``)."""
        if self._final:
            return
        self._final = True
        small = (self.v1 <= 0) | (self.v1 * self.v1 < MIN_REGION_SIZE * self.v2)
        small[:, 0] = False
        for b, g in small.nonzero().tolist():
            self.v1[b, g], self.v2[b, g] = self.v1[b, 0], self.v2[b, 0]
            self.s1[b, g] = self.s1[b, 0]
            if self.transform == "efdm":
                self.hist[b, g], self.zeros[b, g] = self.hist[b, 0], self.zeros[b, 0]
            else:
                self.s2[b, g] = self.s2[b, 0]
        if self.transform == "efdm":
            self._cumulative = self.hist.cumsum(-1) - self.hist  # exclusive: the mass below each bin

    def _denominator(self) -> Tensor:
        """``V1 - V2 / V1`` per (batch, group): ``n - 1`` for the whole map."""
        return (self.v1 - self.v2 / self.v1.clamp_min(1e-300)).clamp_min(1e-12)

    def mean_var(self) -> tuple[Tensor, Tensor]:
        """AdaIN's statistics: mean and unbiased variance, ``(B, G, C)`` float64 each."""
        if self.transform != "adain":
            raise InputError("mean_var() is for AdaIN statistics")
        self._finish()
        assert self.shift is not None
        v1 = self.v1.unsqueeze(-1)
        mean = self.s1 / v1
        var = ((self.s2 - self.s1 * mean) / self._denominator().unsqueeze(-1)).clamp_min(0.0)
        return mean + self.shift.view(self.batch, 1, self.channels), var

    def mean_cov(self) -> tuple[Tensor, Tensor]:
        """WCT's statistics: mean ``(B, G, C)`` and covariance ``(B, G, C, C)``, float64."""
        if self.transform != "wct":
            raise InputError("mean_cov() is for WCT statistics")
        self._finish()
        assert self.shift is not None
        v1 = self.v1.view(self.batch, -1, 1)
        centre = self.s1 / v1
        outer = centre.unsqueeze(-1) * self.s1.unsqueeze(-2)
        cov = (self.s2 - outer) / self._denominator().view(self.batch, -1, 1, 1)
        return centre + self.shift.view(self.batch, 1, self.channels), cov

    def levels(self, x: Tensor, group: int, channels: slice, noise: Tensor) -> Tensor:
        """EFDM levels in [0, 1], ``(B, c, n)`` float64, of values ``x`` ``(B, c, n)`` of ``channels``.

        The mass of ``group`` below each value over its total (linear within a bin); exact zeros
        get ``noise`` ``(B, c, n)`` in (0, 1) times the zeros' share (see the module doc).
        """
        self._finish()
        assert self._cumulative is not None
        pos = _bin_position(x)
        index = _bins(pos)
        frac = (pos - index).double().clamp_(0.0, 1.0)
        cum = self._cumulative[:, group, channels]
        hist = self.hist[:, group, channels]
        below = cum.gather(-1, index) + hist.gather(-1, index) * frac
        zeros = self.zeros[:, group, channels].unsqueeze(-1)
        total = self.v1[:, group].view(-1, 1, 1).clamp_min(1e-300)
        return torch.where(x <= 0, zeros * noise, zeros + below) / total


def _sorted_style(style: Tensor, channels: int) -> Tensor:
    return style.float().reshape(style.shape[0], channels, -1).sort(dim=-1).values


def _quantile(sorted_style: Tensor, level: Tensor) -> Tensor:
    """The style's values at ``level`` ``(B, c, n)``: ``pos = level * M - 0.5``, linear between ranks."""
    m = sorted_style.shape[-1]
    pos = (level * m - 0.5).clamp_(0, m - 1)
    lo = pos.floor().long().clamp_max_(m - 1)
    hi = (lo + 1).clamp_max_(m - 1)
    frac = (pos - lo).float()
    s = sorted_style.expand(level.shape[0], -1, -1)
    return s.gather(-1, lo) * (1 - frac) + s.gather(-1, hi) * frac


@dataclass
class _Map:
    """One prepared transform: AdaIN's per-channel ``scale``/``shift`` ``(B, C, 1, 1)``, WCT's matrix
    ``(B, C, C)`` (in ``scale``) and bias ``(B, C, 1)`` (in ``shift``), or EFDM's statistics group,
    sorted styles with their weights and blend."""

    scale: Tensor | None = None
    shift: Tensor | None = None
    group: int = 0
    sorted_styles: list[tuple[Tensor, float]] = field(default_factory=list)
    alpha: float = 1.0


class GlobalTransform:
    """The transform of one level with the whole image's statistics, applied tile by tile (pass 2).

    Without regions it computes :func:`~adain_nst.nn.transforms.transform_mix`
    (``alpha * sum_i w_i T(c, s_i) + (1 - alpha) * c``); with regions
    :func:`~adain_nst.nn.transforms.region_mix` (``c + sum_k m_k alpha_k (T_k(c) - c)``).

    Args:
        stats: the level's :class:`StreamedStatistics` after pass 1.
        style_feats: without regions, the styles to interpolate; with regions one per region
            (``None``: it keeps the content). ``(B or 1, C, h, w)`` each.
        weights: the interpolation weights (without regions; sum 1).
        alpha: the blend; with regions one per region (``region_alphas``) instead.
        eps: the variance epsilon of AdaIN / WCT.
    """

    def __init__(
        self,
        stats: StreamedStatistics,
        style_feats: Sequence[Tensor | None],
        *,
        weights: Sequence[float] = (),
        alpha: float = 1.0,
        region_alphas: Sequence[float] | None = None,
        eps: float = 1e-5,
    ) -> None:
        self.stats, self.eps = stats, eps
        self.transform = stats.transform
        self.regions = region_alphas is not None
        b, c = stats.batch, stats.channels
        if self.regions:
            assert region_alphas is not None
            if len(style_feats) != stats.regions or len(region_alphas) != stats.regions:
                raise InputError(f"{stats.regions} region(s) need one style and one alpha each")
            self.alphas = [float(a) for a in region_alphas]
            # region k: its own statistics (group k + 1), its style alone, full strength (blended later)
            maps = [(k + 1, [(s, 1.0)], 1.0) if s is not None else None for k, s in enumerate(style_feats)]
        else:
            styles = [s for s in style_feats if s is not None]
            if len(styles) != len(weights):
                raise InputError(f"{len(weights)} weights for {len(styles)} styles")
            maps = [(0, list(zip(styles, [float(w) for w in weights], strict=True)), float(alpha))]
        self.maps: list[_Map | None] = []
        for entry in maps:
            if entry is None:
                self.maps.append(None)
                continue
            group, pairs, a = entry
            self.maps.append(self._prepare(group, pairs, a, b, c))

    def _prepare(self, group: int, pairs: list[tuple[Tensor, float]], alpha: float, b: int, c: int) -> _Map:
        """One map: the content statistics of ``group``, the ``(style, weight)`` pairs, the blend."""
        device = self.stats.device
        if self.transform == "adain":
            mean, var = self.stats.mean_var()
            m = mean[:, group].float().view(b, c, 1, 1)
            v = var[:, group].float().view(b, c, 1, 1)
            styles = [s.to(device) for s, _ in pairs]
            scale, shift = adain_scale_shift(m, v, styles, [w for _, w in pairs], alpha, self.eps)
            return _Map(scale=scale, shift=shift)
        if self.transform == "wct":
            mean, cov = self.stats.mean_cov()
            matrix = torch.zeros(b, c, c, dtype=torch.float64, device=device)
            bias = torch.zeros(b, c, 1, dtype=torch.float64, device=device)
            for style, wgt in pairs:
                y = style.to(device, torch.float32).reshape(style.shape[0], c, -1)
                for i in range(b):
                    mi, mc, ms = wct_matrix_from_moments(
                        mean[i, group].view(c, 1), cov[i, group], y[min(i, y.shape[0] - 1)], self.eps
                    )
                    matrix[i] += wgt * mi
                    bias[i] += wgt * (ms - mi @ mc)
            eye = torch.eye(c, dtype=torch.float64, device=device)
            return _Map(scale=(alpha * matrix + (1 - alpha) * eye).float(), shift=(alpha * bias).float())
        sorted_styles = [(_sorted_style(s.to(device), c), w) for s, w in pairs]
        return _Map(group=group, sorted_styles=sorted_styles, alpha=alpha)

    def _apply(self, spec: _Map, x: Tensor, origin: tuple[int, int], size: tuple[int, int]) -> Tensor:
        """One map on float32 features ``(B, C, h, w)``."""
        b, c, h, w = x.shape
        if self.transform == "adain":
            assert spec.scale is not None and spec.shift is not None
            return torch.addcmul(spec.shift, x, spec.scale)
        flat = x.reshape(b, c, h * w)
        if self.transform == "wct":
            assert spec.scale is not None and spec.shift is not None
            return torch.baddbmm(spec.shift, spec.scale, flat).view(b, c, h, w)
        out = torch.empty(b, c, h * w, dtype=flat.dtype, device=flat.device)
        step = max(1, _CHUNK_VALUES // max(1, b * h * w))
        for c0 in range(0, c, step):
            part = slice(c0, min(c, c0 + step))
            xs = flat[:, part]
            noise = position_noise(b, range(part.start, part.stop), origin, size).to(x.device)
            level = self.stats.levels(xs, spec.group, part, noise)
            matched = torch.zeros_like(xs)
            for sorted_style, wgt in spec.sorted_styles:
                matched += wgt * _quantile(sorted_style[:, part], level)
            out[:, part] = matched if spec.alpha == 1.0 else spec.alpha * matched + (1.0 - spec.alpha) * xs
        return out.view(b, c, h, w)

    def __call__(self, feat: Tensor, masks: Tensor | None = None, origin: tuple[int, int] = (0, 0)) -> Tensor:
        """The target features of a tile window ``(B, C, h, w)`` whose top-left feature is ``origin``
        in the whole image's feature map; ``masks`` ``(1 or B, K, h, w)`` with regions. float32 out,
        in ``feat``'s memory format for AdaIN."""
        x = feat.to(self.stats.device, torch.float32)
        size = (x.shape[-2], x.shape[-1])
        if not self.regions:
            spec = self.maps[0]
            assert spec is not None
            return self._apply(spec, x, origin, size)
        if masks is None or masks.shape[1] != len(self.maps):
            raise InputError(f"a regional transform needs its {len(self.maps)} mask(s) at the features' size")
        kept = torch.ones_like(x[:, :1])
        styled = torch.zeros_like(x)
        for k, (spec, a) in enumerate(zip(self.maps, self.alphas, strict=True)):
            if spec is None or a == 0.0:
                continue
            share = a * masks[:, k : k + 1].float()
            styled.addcmul_(share, self._apply(spec, x, origin, size))
            kept.sub_(share)
        return styled.addcmul_(kept, x)


__all__ = ["BINS", "BINS_PER_OCTAVE", "OCTAVES", "GlobalTransform", "StreamedStatistics", "position_noise"]

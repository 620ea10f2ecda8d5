"""Feature transforms: functions on ``(B, C, H, W)`` features, each with a thin Module face.

Each maps content features onto statistics of style features, per image:

* :func:`adaptive_instance_norm` (AdaIN; Huang & Belongie, ICCV 2017): the content's per-channel
  mean/std replaced by the style's. Statistics follow the reference implementation: spatial
  mean, and std = sqrt(unbiased variance + eps), the eps added to the variance.
* :func:`wct` (whitening and colouring; Li et al., "Universal Style Transfer via Feature
  Transforms", NeurIPS 2017): the centred content is whitened with its covariance's inverse
  square root, ``C_c^(-1/2)``, and coloured with the style's square root ``C_s^(1/2)``, so the
  output's channel covariance equals the style's (cross-channel correlations, not only variances).
* :func:`efdm` (exact feature distribution matching; Zhang et al., "Exact Feature Distribution
  Matching for Arbitrary Style Transfer and Domain Generalization", CVPR 2022): each channel's
  values are replaced, rank for rank, by the style's values at the same quantile (sort
  matching), so every channel's whole distribution equals the style's.

:func:`transform_mix` blends any of them: ``alpha * sum_i w_i T(c, s_i) + (1 - alpha) * c``
(style interpolation and the content/stylised blend); :func:`adain_target` and
:func:`adain_affine` (one per-channel affine map, what the engine runs) are its AdaIN forms.

Spatial control (regions): every transform takes ``mask=``, a ``(B or 1, 1, H, W)`` weight map in
[0, 1]; the *content's* statistics are then measured inside the mask (:func:`masked_mean_std`,
:func:`masked_covariance`, :func:`masked_quantile_levels`: the masked statistics, all here) and
the resulting map is applied to the whole feature map. :func:`region_mix` blends one such
transform per region by the masks: ``c + sum_k m_k alpha_k (T_k(c) - c)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_alpha
from ..errors import InputError


def calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of ``feat`` over its spatial positions.

    Args:
        feat: ``(B, C, H, W)`` features; needs ``H * W >= 2`` for the unbiased variance.
        eps: added to the variance before the square root.

    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``.
    """
    if feat.dim() != 4:
        raise InputError(f"features must be (B, C, H, W), got shape {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    if h * w < 2:
        raise InputError(
            f"features of spatial size {h}x{w} have no variance; the image is too small for this "
            "feature level (relu4_1 is 1/8 of the input: use inputs of at least 16 px per side)"
        )
    var, mean = torch.var_mean(feat.reshape(b, c, h * w), dim=2, correction=1)
    return mean.view(b, c, 1, 1), (var + eps).sqrt().view(b, c, 1, 1)


def adaptive_instance_norm(
    content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5, *, mask: Tensor | None = None
) -> Tensor:
    """Re-normalise ``content_feat`` to the channel mean/std of ``style_feat``.

    Args:
        content_feat: ``(B, C, H, W)``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')`` (broadcast); sizes may differ.
        eps: see :func:`calc_mean_std`.
        mask: optional ``(B or 1, 1, H, W)`` weights in [0, 1]: the content's mean/std are those
            inside it (:func:`masked_mean_std`); the map is still applied everywhere.

    Returns:
        ``(B, C, H, W)``: ``(x - mean_x) / std_x * std_y + mean_y`` per channel.
    """
    if content_feat.dim() != 4 or style_feat.dim() != 4 or content_feat.shape[1] != style_feat.shape[1]:
        raise InputError(
            "content and style features must be (B, C, H, W) with the same C, got "
            f"{tuple(content_feat.shape)} and {tuple(style_feat.shape)}"
        )
    if mask is None:
        c_mean, c_std = calc_mean_std(content_feat, eps)
    else:
        c_mean, c_std = masked_mean_std(content_feat, mask, eps)
    s_mean, s_std = calc_mean_std(style_feat, eps)
    return (content_feat - c_mean) / c_std * s_std + s_mean


# -- masked statistics (spatial control) --------------------------------------------------------------
MIN_REGION_SIZE = 4.0
"""Fewest effective positions, ``(sum w)^2 / sum w^2``, a region needs for statistics of its own.

A smaller region (a small mask at a coarse level, where it covers under ~4 feature pixels) takes
the statistics of the whole feature map instead, so its transform stays well conditioned."""


def region_weights(mask: Tensor, batch: int, size: tuple[int, int]) -> Tensor:
    """``mask`` ``(B or 1, 1, H, W)`` as float64 weights ``(batch, H * W)`` in [0, 1].

    Regions smaller than :data:`MIN_REGION_SIZE` effective positions (and empty ones) get all
    ones: the whole map.
    """
    h, w = size
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, batch) or tuple(mask.shape[-2:]) != (h, w):
        raise InputError(f"a region mask must be (1 or {batch}, 1, {h}, {w}) weights, got {tuple(mask.shape)}")
    wt = mask.reshape(mask.shape[0], h * w).double().clamp(0.0, 1.0).expand(batch, -1)
    v1 = wt.sum(1, keepdim=True)
    v2 = (wt * wt).sum(1, keepdim=True)
    small = (v1 <= 0) | (v1 * v1 < MIN_REGION_SIZE * v2)
    return torch.where(small, torch.ones_like(wt), wt)


def _whole_map(wt: Tensor) -> bool:
    """Whether region weights select every position fully: the unmasked statistics (same numbers) apply."""
    return bool((wt == 1.0).all())


def _weighted_denominator(wt: Tensor) -> Tensor:
    """``V1 - V2 / V1`` (reliability weights): ``n - 1`` for a binary mask of ``n`` positions."""
    v1 = wt.sum(-1, keepdim=True)
    return (v1 - (wt * wt).sum(-1, keepdim=True) / v1).clamp_min(1e-12)


def masked_mean_std(feat: Tensor, mask: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of ``feat`` inside a soft mask.

    ``mean = sum w x / sum w`` and ``var = sum w (x - mean)^2 / (V1 - V2 / V1)`` with
    ``V1 = sum w``, ``V2 = sum w^2`` (unbiased for reliability weights): for a binary mask the
    unbiased variance of the positions it selects, for an all-ones mask :func:`calc_mean_std`.

    Args:
        feat: ``(B, C, H, W)``.
        mask: ``(B or 1, 1, H, W)`` weights in [0, 1] (see :func:`region_weights` for tiny regions).
        eps: added to the variance before the square root.

    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)`` in ``feat``'s dtype (computed in float32, or float64).
    """
    if feat.dim() != 4:
        raise InputError(f"features must be (B, C, H, W), got shape {tuple(feat.shape)}")
    b, c, h, w = feat.shape
    wt = region_weights(mask, b, (h, w))
    if _whole_map(wt):
        return calc_mean_std(feat, eps)
    work = torch.float64 if feat.dtype == torch.float64 else torch.float32
    x = feat.to(work).reshape(b, c, h * w)
    wn = wt.to(work).unsqueeze(-1)  # (B, N, 1)
    mean = torch.bmm(x, wn) / wn.sum(1, keepdim=True)  # (B, C, 1)
    centred = x - mean
    var = torch.bmm(centred * centred, wn) / _weighted_denominator(wt).to(work).unsqueeze(-1)
    std = (var + eps).sqrt()
    return mean.view(b, c, 1, 1).to(feat.dtype), std.view(b, c, 1, 1).to(feat.dtype)


def masked_covariance(x: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted mean ``(C, 1)`` and channel covariance ``(C, C)`` of ``x`` ``(C, N)``, in float64.

    ``weights`` ``(N,)`` in [0, 1]; the covariance is normalised like :func:`masked_mean_std`'s
    variance (``N - 1`` for all ones: the plain sample covariance).
    """
    x = x.double()
    w = weights.double().reshape(-1)
    if w.shape[0] != x.shape[1]:
        raise InputError(f"{w.shape[0]} weights for {x.shape[1]} feature positions")
    mean = (x @ w / w.sum()).unsqueeze(1)
    centred = x - mean
    cov = (centred * w) @ centred.T / _weighted_denominator(w)
    return mean, cov


def masked_quantile_levels(x: Tensor, weights: Tensor) -> Tensor:
    """Where each value sits in the weighted distribution of its channel: levels in [0, 1].

    The weighted mid-rank CDF: for values sorted ascending with weights ``w``, the level of the
    ``r``-th is ``(sum_{j<=r} w_j - w_r / 2) / sum w``, so positions outside the region (weight 0)
    get the share of the region below them. With all-ones weights the level of rank ``r`` is
    ``(r + 0.5) / N``, the quantile :func:`efdm` reads the style at.

    Args:
        x: ``(B, C, N)`` values.
        weights: ``(B or 1, N)`` weights in [0, 1], not all 0.

    Returns:
        ``(B, C, N)`` float64 levels.
    """
    b, c, n = x.shape
    order = x.argsort(dim=-1)
    w = weights.double().reshape(-1, 1, n).expand(b, c, n)
    w_sorted = w.gather(-1, order)
    cum = w_sorted.cumsum(-1)
    mid = (cum - 0.5 * w_sorted) / cum[..., -1:].clamp_min(1e-12)
    return torch.empty_like(mid).scatter_(-1, order, mid)


def adain_target(
    content_feat: Tensor,
    style_feats: Sequence[Tensor],
    weights: Sequence[float] | Tensor,
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> Tensor:
    """The feature map the decoder inverts: ``alpha * sum_i w_i AdaIN(c, s_i) + (1 - alpha) * c``.

    ``weights`` must already sum to 1 (see :func:`adain_nst._checks.check_style_weights`).
    """
    t = sum(float(w) * adaptive_instance_norm(content_feat, s, eps) for w, s in zip(weights, style_feats, strict=True))
    assert isinstance(t, Tensor)
    if alpha == 1.0:
        return t
    return alpha * t + (1.0 - alpha) * content_feat


# Feature maps (per image, all channels) of at least this many values take the chunked-sums
# route in _var_mean. torch.var_mean's single-pass reduction runs at ~0.2-0.5 G values/s here
# whatever the layout (AMD Zen 5, 1 thread: 3.5 ms at 32 x 128 x 192, 19 ms at 16 x 512^2),
# the chunked sums at several G values/s (0.2 ms and 1.8 ms); only maps of a few thousand
# values, where the extra calls dominate, are faster the plain way (8 vs 32 us at 3 x 8 x 8).
_FAST_STATS_MIN = 1 << 12
_CHUNK = 4096


def _chunked_sums(rows: Tensor) -> tuple[Tensor, Tensor]:
    """Sums of values and squares over dim 1 of ``(B, N, C)``: float32 within chunks, float64 across."""
    b, n, c = rows.shape
    full = n - n % _CHUNK
    blocks = rows[:, :full].reshape(b, -1, _CHUNK, c)
    s1 = blocks.sum(2).double().sum(1)
    s2 = (blocks * blocks).sum(2).double().sum(1)
    if full < n:
        rest = rows[:, full:].double()
        s1, s2 = s1 + rest.sum(1), s2 + (rest * rest).sum(1)
    return s1, s2


def _var_mean(x: Tensor) -> tuple[Tensor, Tensor]:
    """Unbiased per-channel variance and mean ``(B, C, 1, 1)`` of float32 features.

    Big maps are summed in their memory order in float32 chunks of :data:`_CHUNK` positions whose
    totals are added in float64, then ``var = (S2 - S1^2 / n) / (n - 1)``: relative error ~1e-7
    against a float64 reference for ReLU features (whose mean is of the order of their std).
    """
    b, c = x.shape[:2]
    n = x[0, 0].numel()
    if c * n < _FAST_STATS_MIN:
        var, mean = torch.var_mean(x.reshape(b, c, -1), dim=2, correction=1)
        return var.view(b, c, 1, 1), mean.view(b, c, 1, 1)
    if x.is_contiguous(memory_format=torch.channels_last):
        rows = x.permute(0, 2, 3, 1).reshape(b, n, c)
    else:
        rows = x.reshape(b, c, n).transpose(1, 2)
    s1, s2 = _chunked_sums(rows)
    mean = s1 / n
    var = ((s2 - s1 * mean) / (n - 1)).clamp_min(0.0)
    return var.float().view(b, c, 1, 1), mean.float().view(b, c, 1, 1)


def adain_affine(
    content_feat: Tensor,
    style_feats: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> Tensor:
    """:func:`adain_target` as one per-channel affine map, statistics in float32.

    AdaIN(c, s) = c * k + (m_s - m_c * k) with k = std_s / std_c, so the weighted sum and the
    blend with ``c`` are again ``c * scale + shift``: one pass over the features whatever the
    number of styles. Returns ``content_feat``'s dtype and memory format.
    """
    c32 = content_feat.float()
    c_var, c_mean = _var_mean(c32)
    scale, shift = adain_scale_shift(c_mean, c_var, style_feats, weights, alpha, eps)
    if content_feat.dtype == torch.float32:
        return torch.addcmul(shift, content_feat, scale)
    return torch.addcmul(shift, c32, scale).to(content_feat.dtype)


def adain_scale_shift(
    c_mean: Tensor,
    c_var: Tensor,
    style_feats: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` of :func:`adain_affine` from the content's statistics.

    Args:
        c_mean, c_var: the content's per-channel mean and unbiased variance, ``(B, C, 1, 1)``
            float32 (of one image, or of a whole image streamed in tiles).
        style_feats: ``(B or 1, C, h, w)`` maps; weights: one per style, summing to 1.

    Returns:
        ``(B, C, 1, 1)`` each: the target is ``content * scale + shift``.
    """
    c_std = (c_var + eps).sqrt()
    scale = torch.zeros_like(c_std)
    shift = torch.zeros_like(c_mean)
    for wgt, s in zip(weights, style_feats, strict=True):
        s_var, s_mean = _var_mean(s.float())
        k = (s_var + eps).sqrt() / c_std
        scale = scale + wgt * k
        shift = shift + wgt * (s_mean - c_mean * k)
    return alpha * scale + (1.0 - alpha), alpha * shift


def _per_image(content_feat: Tensor, style_feat: Tensor, what: str) -> None:
    if content_feat.dim() != 4 or style_feat.dim() != 4 or content_feat.shape[1] != style_feat.shape[1]:
        raise InputError(
            f"{what}: content and style features must be (B, C, H, W) with the same C, got "
            f"{tuple(content_feat.shape)} and {tuple(style_feat.shape)}"
        )
    if style_feat.shape[0] not in (1, content_feat.shape[0]):
        raise InputError(
            f"{what}: style batch {style_feat.shape[0]} must be 1 or the content's {content_feat.shape[0]}"
        )


# Eigenvalues below this fraction of the largest are treated as zero: a feature map with fewer
# pixels than channels (or dead channels) has a rank-deficient covariance, whose tiny
# eigenvalues would otherwise be inverted into huge whitening gains.
WCT_RANK_TOL = 1e-5


def _covariance_eigh(x: Tensor, weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Mean ``(C, 1)``, eigenvalues ``(C,)`` and eigenvectors ``(C, C)`` of ``x`` ``(C, N)``, in float64.

    ``weights`` ``(N,)``: the statistics inside that soft mask (:func:`masked_covariance`).
    """
    if weights is not None:
        mean, cov = masked_covariance(x, weights)
    else:
        x = x.double()
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        cov = centred @ centred.T / max(x.shape[1] - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)
    return mean, evals.clamp_min(0.0), evecs


def wct_matrix(
    content: Tensor, style: Tensor, eps: float = 1e-5, *, content_weights: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(M, mean_c, mean_s)`` with ``wct(c) = M (c - mean_c) + mean_s``, for ``(C, N)`` features, float64.

    ``M = E_s D_s^(1/2) E_s^T E_c D_c^(-1/2) E_c^T``; eigenvalues of the content below
    :data:`WCT_RANK_TOL` x the largest are dropped from the whitening, ``eps`` is added to the
    kept ones (as in the reference implementation's regularised covariance).
    ``content_weights`` ``(N,)`` in [0, 1]: the content's mean and covariance inside that mask.
    """
    mean_c, ev_c, vec_c = _covariance_eigh(content, content_weights)
    mean_s, ev_s, vec_s = _covariance_eigh(style)
    return _wct_from_eigh(ev_c, vec_c, ev_s, vec_s, eps), mean_c, mean_s


def _wct_from_eigh(ev_c: Tensor, vec_c: Tensor, ev_s: Tensor, vec_s: Tensor, eps: float) -> Tensor:
    """``M`` of :func:`wct_matrix` from the two eigendecompositions (float64)."""
    keep = ev_c > WCT_RANK_TOL * ev_c.max().clamp_min(1e-30)
    inv_sqrt = torch.where(keep, (ev_c + eps).rsqrt(), torch.zeros_like(ev_c))
    whiten = (vec_c * inv_sqrt) @ vec_c.T
    colour = (vec_s * ev_s.sqrt()) @ vec_s.T
    return colour @ whiten


def wct_matrix_from_moments(
    mean_c: Tensor, cov_c: Tensor, style: Tensor, eps: float = 1e-5
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`wct_matrix` from the content's mean ``(C, 1)`` and covariance ``(C, C)`` (float64), e.g.
    accumulated over the tiles of a whole image; ``style`` ``(C, M)`` features."""
    evals, vec_c = torch.linalg.eigh(cov_c.double())
    mean_s, ev_s, vec_s = _covariance_eigh(style)
    return _wct_from_eigh(evals.clamp_min(0.0), vec_c, ev_s, vec_s, eps), mean_c.double(), mean_s


def wct(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5, *, mask: Tensor | None = None) -> Tensor:
    """Whitening-colouring transform: ``content_feat`` with the style's mean and channel covariance.

    Args:
        content_feat: ``(B, C, H, W)``; needs ``H * W >= 2``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')`` (shared); sizes may differ.
        eps: added to the content covariance's kept eigenvalues.
        mask: optional ``(B or 1, 1, H, W)`` weights in [0, 1]: whiten with the content's mean and
            covariance inside it (:func:`masked_covariance`); the map is applied everywhere.

    Returns:
        ``(B, C, H, W)`` in ``content_feat``'s dtype. Covariances and eigendecompositions run in
        float64 (``torch.linalg.eigh``); the C x C map is applied in float32.
    """
    _per_image(content_feat, style_feat, "wct")
    b, c, h, w = content_feat.shape
    if h * w < 2:
        raise InputError(f"features of spatial size {h}x{w} have no covariance; the image is too small")
    x = content_feat.reshape(b, c, h * w)
    y = style_feat.reshape(style_feat.shape[0], c, -1)
    out = torch.empty(b, c, h * w, dtype=content_feat.dtype, device=content_feat.device)
    weights = None if mask is None else region_weights(mask, b, (h, w))
    if weights is not None and _whole_map(weights):
        weights = None
    for i in range(b):
        wi = None if weights is None else weights[i]
        m, mean_c, mean_s = wct_matrix(x[i], y[min(i, y.shape[0] - 1)], eps, content_weights=wi)
        xi = x[i].float()
        out[i] = (m.float() @ (xi - mean_c.float()) + mean_s.float()).to(out.dtype)
    return out.view(b, c, h, w)


def efdm(content_feat: Tensor, style_feat: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Exact feature distribution matching: each channel takes the style's values rank for rank.

    With ``N`` content and ``M`` style positions, the content value of rank ``r`` (0-based) is
    replaced by the style's quantile at ``(r + 0.5) / N``, linearly interpolated between the
    style's sorted values (exactly its ``r``-th value when ``M == N``). The gradient flows to the
    content as the identity (``c + (matched - c).detach()``), as in the paper.

    Args:
        content_feat: ``(B, C, H, W)``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')``; sizes may differ.
        mask: optional ``(B or 1, 1, H, W)`` weights in [0, 1]: ranks are taken within the
            content's distribution inside it (:func:`masked_quantile_levels`), so the region's
            values take the style's distribution; every position is mapped by its level.

    Returns:
        ``(B, C, H, W)`` in ``content_feat``'s dtype.
    """
    _per_image(content_feat, style_feat, "efdm")
    if mask is not None:
        return _masked_efdm(content_feat, style_feat, mask)
    b, c, h, w = content_feat.shape
    x = content_feat.reshape(b, c, h * w)
    y = style_feat.reshape(style_feat.shape[0], c, -1).float().expand(b, -1, -1)
    n, m = x.shape[-1], y.shape[-1]
    order = x.argsort(dim=-1)
    sorted_style = y.sort(dim=-1).values
    if m != n:
        pos = ((torch.arange(n, device=x.device, dtype=torch.float32) + 0.5) * (m / n) - 0.5).clamp(0, m - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp_max(m - 1)
        frac = pos - lo
        sorted_style = sorted_style[..., lo] * (1 - frac) + sorted_style[..., hi] * frac
    matched = torch.empty_like(x, dtype=torch.float32).scatter_(-1, order, sorted_style)
    matched = matched.to(content_feat.dtype).view(b, c, h, w)
    return content_feat + (matched - content_feat).detach()


_EFDM_CHUNK = 1 << 23  # values per chunk of masked EFDM (its float64 levels: 64 MB)


def _masked_efdm(content_feat: Tensor, style_feat: Tensor, mask: Tensor) -> Tensor:
    """:func:`efdm` with the content's ranks taken inside ``mask`` (levels -> style quantiles)."""
    b, c, h, w = content_feat.shape
    x = content_feat.reshape(b, c, h * w)
    weights = region_weights(mask, b, (h, w))
    if _whole_map(weights):
        return efdm(content_feat, style_feat)
    y = style_feat.reshape(style_feat.shape[0], c, -1).float().expand(b, -1, -1)
    m = y.shape[-1]
    sorted_style = y.sort(dim=-1).values
    matched = torch.empty(b, c, h * w, dtype=torch.float32, device=content_feat.device)
    step = max(1, _EFDM_CHUNK // max(1, b * h * w))  # channels at a time: bounds the float64 levels
    for c0 in range(0, c, step):
        part = slice(c0, c0 + step)
        pos = (masked_quantile_levels(x[:, part], weights) * m - 0.5).clamp(0, m - 1)
        lo = pos.floor().long().clamp_max(m - 1)
        hi = (lo + 1).clamp_max(m - 1)
        frac = (pos - lo).float()
        s_part = sorted_style[:, part]
        matched[:, part] = s_part.gather(-1, lo) * (1 - frac) + s_part.gather(-1, hi) * frac
    matched = matched.to(content_feat.dtype).view(b, c, h, w)
    return content_feat + (matched - content_feat).detach()


TRANSFORMS = {"adain": adaptive_instance_norm, "wct": wct, "efdm": efdm}
"""The feature transforms by name: ``f(content_feat, style_feat) -> features``."""


def check_transform(name: object) -> str:
    """``name`` if it is one of :data:`TRANSFORMS`, else :class:`InputError` listing them."""
    if name not in TRANSFORMS:
        raise InputError(f"transform must be one of {sorted(TRANSFORMS)}, got {name!r}")
    return str(name)


def transform_mix(
    name: str,
    content_feat: Tensor,
    style_feats: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float = 1.0,
    eps: float = 1e-5,
) -> Tensor:
    """``alpha * sum_i w_i T(c, s_i) + (1 - alpha) * c`` for the transform ``T`` called ``name``.

    ``weights`` must sum to 1. AdaIN goes through :func:`adain_target` (the reference formula);
    WCT and EFDM interpolate their outputs, as their papers do for several styles. Features
    come back in ``content_feat``'s dtype; WCT/EFDM compute in float32/float64 whatever it is.
    """
    if check_transform(name) == "adain":
        return adain_target(content_feat, style_feats, weights, alpha, eps)
    c32 = content_feat.float()
    parts = [float(wt) * (wct(c32, s.float(), eps) if name == "wct" else efdm(c32, s.float()))
             for wt, s in zip(weights, style_feats, strict=True)]  # fmt: skip
    t = torch.stack(parts).sum(0)
    if alpha != 1.0:
        t = alpha * t + (1.0 - alpha) * c32
    return t.to(content_feat.dtype)


def region_mix(
    name: str,
    content_feat: Tensor,
    style_feats: Sequence[Tensor | None],
    masks: Tensor,
    alphas: Sequence[float],
    eps: float = 1e-5,
) -> Tensor:
    """One transform per region, blended by the masks: ``c + sum_k m_k alpha_k (T_k(c) - c)``.

    ``T_k`` maps the content onto style ``k`` with the content's statistics measured inside
    ``m_k`` (``mask=`` of the transform), so every region takes its own style's statistics,
    and a soft mask gives a soft blend (no seam). Where the masks sum to less than 1 the content
    keeps the rest of its weight.

    Args:
        name: ``"adain"``, ``"wct"`` or ``"efdm"``.
        content_feat: ``(B, C, H, W)``.
        style_feats: one ``(B or 1, C, h, w)`` map per region, or ``None`` (the region keeps the content).
        masks: ``(B or 1, K, H, W)`` weights in [0, 1], ``sum_k m_k <= 1`` at every position.
        alphas: one strength in [0, 1] per region.
        eps: the variance epsilon of AdaIN / WCT.

    Returns:
        ``(B, C, H, W)`` in ``content_feat``'s dtype (computed in float32).
    """
    check_transform(name)
    k = len(style_feats)
    if masks.dim() != 4 or masks.shape[1] != k or masks.shape[-2:] != content_feat.shape[-2:]:
        raise InputError(
            f"masks must be (B or 1, {k}, {content_feat.shape[-2]}, {content_feat.shape[-1]}) for {k} region(s), "
            f"got {tuple(masks.shape)}"
        )
    if len(alphas) != k:
        raise InputError(f"{len(alphas)} region alphas for {k} region(s)")
    c32 = content_feat.float()
    kept = torch.ones_like(c32[:, :1])  # the content's share: 1 - sum_k alpha_k m_k
    styled = torch.zeros_like(c32)
    for i, (style, a) in enumerate(zip(style_feats, alphas, strict=True)):
        if style is None or a == 0.0:
            continue
        m = masks[:, i : i + 1].float()
        if name == "efdm":
            t = efdm(c32, style.float(), mask=m)
        elif name == "wct":
            t = wct(c32, style.float(), eps, mask=m)
        else:
            t = adaptive_instance_norm(c32, style.float(), eps, mask=m)
        share = float(a) * m
        styled.addcmul_(share, t)
        kept.sub_(share)
        del t
    return styled.addcmul_(kept, c32).to(content_feat.dtype)


class AdaIN(nn.Module):
    """Module form of :func:`adaptive_instance_norm`, with an optional content/style blend.

    ``forward(content_feat, style_feat, alpha=1.0)`` returns
    ``alpha * AdaIN(c, s) + (1 - alpha) * c``; alpha in [0, 1].
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, content_feat: Tensor, style_feat: Tensor, alpha: float = 1.0) -> Tensor:
        return adain_target(content_feat, [style_feat], [1.0], check_alpha(alpha), self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class WCT(nn.Module):
    """Module form of :func:`wct` with an optional content/style blend ``alpha`` in [0, 1]."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, content_feat: Tensor, style_feat: Tensor, alpha: float = 1.0) -> Tensor:
        return transform_mix("wct", content_feat, [style_feat], [1.0], check_alpha(alpha), self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class EFDM(nn.Module):
    """Module form of :func:`efdm` with an optional content/style blend ``alpha`` in [0, 1]."""

    def forward(self, content_feat: Tensor, style_feat: Tensor, alpha: float = 1.0) -> Tensor:
        return transform_mix("efdm", content_feat, [style_feat], [1.0], check_alpha(alpha))


__all__ = [
    "EFDM",
    "MIN_REGION_SIZE",
    "TRANSFORMS",
    "WCT",
    "AdaIN",
    "adain_affine",
    "adain_scale_shift",
    "adain_target",
    "adaptive_instance_norm",
    "calc_mean_std",
    "check_transform",
    "efdm",
    "masked_covariance",
    "masked_mean_std",
    "masked_quantile_levels",
    "region_mix",
    "region_weights",
    "transform_mix",
    "wct",
    "wct_matrix",
    "wct_matrix_from_moments",
]

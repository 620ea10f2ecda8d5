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


def adaptive_instance_norm(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5) -> Tensor:
    """Re-normalise ``content_feat`` to the channel mean/std of ``style_feat``.

    Args:
        content_feat: ``(B, C, H, W)``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')`` (broadcast); sizes may differ.
        eps: see :func:`calc_mean_std`.

    Returns:
        ``(B, C, H, W)``: ``(x - mean_x) / std_x * std_y + mean_y`` per channel.
    """
    if content_feat.dim() != 4 or style_feat.dim() != 4 or content_feat.shape[1] != style_feat.shape[1]:
        raise InputError(
            "content and style features must be (B, C, H, W) with the same C, got "
            f"{tuple(content_feat.shape)} and {tuple(style_feat.shape)}"
        )
    c_mean, c_std = calc_mean_std(content_feat, eps)
    s_mean, s_std = calc_mean_std(style_feat, eps)
    return (content_feat - c_mean) / c_std * s_std + s_mean


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


# Feature maps (per image, all channels) at least this big take the chunked-sums route in
# _var_mean: measured 7x faster than torch.var_mean at 24 x 512^2 (2 vs 14 ms), whose
# single-pass reduction runs at ~0.5 G values/s here.
_FAST_STATS_MIN = 1 << 20
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
    c_std = (c_var + eps).sqrt()
    scale = torch.zeros_like(c_std)
    shift = torch.zeros_like(c_mean)
    for wgt, s in zip(weights, style_feats, strict=True):
        s_var, s_mean = _var_mean(s.float())
        k = (s_var + eps).sqrt() / c_std
        scale = scale + wgt * k
        shift = shift + wgt * (s_mean - c_mean * k)
    scale = alpha * scale + (1.0 - alpha)
    shift = alpha * shift
    if content_feat.dtype == torch.float32:
        return torch.addcmul(shift, content_feat, scale)
    return torch.addcmul(shift, c32, scale).to(content_feat.dtype)


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


def _covariance_eigh(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Mean ``(C, 1)``, eigenvalues ``(C,)`` and eigenvectors ``(C, C)`` of ``x`` ``(C, N)``, in float64."""
    x = x.double()
    mean = x.mean(dim=1, keepdim=True)
    centred = x - mean
    cov = centred @ centred.T / max(x.shape[1] - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)
    return mean, evals.clamp_min(0.0), evecs


def wct_matrix(content: Tensor, style: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """``(M, mean_c, mean_s)`` with ``wct(c) = M (c - mean_c) + mean_s``, for ``(C, N)`` features, float64.

    ``M = E_s D_s^(1/2) E_s^T E_c D_c^(-1/2) E_c^T``; eigenvalues of the content below
    :data:`WCT_RANK_TOL` x the largest are dropped from the whitening, ``eps`` is added to the
    kept ones (as in the reference implementation's regularised covariance).
    """
    mean_c, ev_c, vec_c = _covariance_eigh(content)
    mean_s, ev_s, vec_s = _covariance_eigh(style)
    keep = ev_c > WCT_RANK_TOL * ev_c.max().clamp_min(1e-30)
    inv_sqrt = torch.where(keep, (ev_c + eps).rsqrt(), torch.zeros_like(ev_c))
    whiten = (vec_c * inv_sqrt) @ vec_c.T
    colour = (vec_s * ev_s.sqrt()) @ vec_s.T
    return colour @ whiten, mean_c, mean_s


def wct(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5) -> Tensor:
    """Whitening-colouring transform: ``content_feat`` with the style's mean and channel covariance.

    Args:
        content_feat: ``(B, C, H, W)``; needs ``H * W >= 2``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')`` (shared); sizes may differ.
        eps: added to the content covariance's kept eigenvalues.

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
    for i in range(b):
        m, mean_c, mean_s = wct_matrix(x[i], y[min(i, y.shape[0] - 1)], eps)
        xi = x[i].float()
        out[i] = (m.float() @ (xi - mean_c.float()) + mean_s.float()).to(out.dtype)
    return out.view(b, c, h, w)


def efdm(content_feat: Tensor, style_feat: Tensor) -> Tensor:
    """Exact feature distribution matching: each channel takes the style's values rank for rank.

    With ``N`` content and ``M`` style positions, the content value of rank ``r`` (0-based) is
    replaced by the style's quantile at ``(r + 0.5) / N``, linearly interpolated between the
    style's sorted values (exactly its ``r``-th value when ``M == N``). The gradient flows to the
    content as the identity (``c + (matched - c).detach()``), as in the paper.

    Args:
        content_feat: ``(B, C, H, W)``.
        style_feat: ``(B, C, H', W')`` or ``(1, C, H', W')``; sizes may differ.

    Returns:
        ``(B, C, H, W)`` in ``content_feat``'s dtype.
    """
    _per_image(content_feat, style_feat, "efdm")
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
    "TRANSFORMS",
    "WCT",
    "AdaIN",
    "adain_affine",
    "adain_target",
    "adaptive_instance_norm",
    "calc_mean_std",
    "check_transform",
    "efdm",
    "transform_mix",
    "wct",
    "wct_matrix",
]

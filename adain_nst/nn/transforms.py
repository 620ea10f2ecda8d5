"""Feature transforms: functions on ``(B, C, H, W)`` features, each with a thin Module face.

* :func:`adaptive_instance_norm` (Huang & Belongie, ICCV 2017): the content's per-channel
  mean/std replaced by the style's. Statistics follow the reference implementation:
  spatial mean, and std = sqrt(unbiased variance + eps), the eps added to the variance.
* :func:`adain_target`: the mix the decoder inverts, with style interpolation and the
  content/stylised blend ``alpha``.
* :func:`adain_affine`: the same mix as one per-channel affine map ``c * scale + shift``
  (what the inference engine applies in one pass).
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
    c_var, c_mean = torch.var_mean(c32, dim=(2, 3), correction=1, keepdim=True)
    c_std = (c_var + eps).sqrt()
    scale = torch.zeros_like(c_std)
    shift = torch.zeros_like(c_mean)
    for wgt, s in zip(weights, style_feats, strict=True):
        s_var, s_mean = torch.var_mean(s.float(), dim=(2, 3), correction=1, keepdim=True)
        k = (s_var + eps).sqrt() / c_std
        scale = scale + wgt * k
        shift = shift + wgt * (s_mean - c_mean * k)
    scale = alpha * scale + (1.0 - alpha)
    shift = alpha * shift
    if content_feat.dtype == torch.float32:
        return torch.addcmul(shift, content_feat, scale)
    return torch.addcmul(shift, c32, scale).to(content_feat.dtype)


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


__all__ = ["AdaIN", "adain_affine", "adain_target", "adaptive_instance_norm", "calc_mean_std"]

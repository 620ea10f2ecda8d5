"""Adaptive instance normalisation (Huang & Belongie, ICCV 2017), functional core + module.

Statistics follow the reference implementation: per-channel spatial mean, and
std = sqrt(unbiased variance + eps), the eps added to the variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .errors import InputError


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
            f"features of spatial size {h}x{w} have no variance; the image is too small "
            "(relu4_1 is 1/8 of the input: use inputs of at least 16 px per side)"
        )
    flat = feat.reshape(b, c, h * w)
    var, mean = torch.var_mean(flat, dim=2, correction=1)
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

    ``weights`` must already be normalised to sum 1 (see :func:`normalize_style_weights`).
    """
    t = sum(float(w) * adaptive_instance_norm(content_feat, s, eps) for w, s in zip(weights, style_feats, strict=True))
    assert isinstance(t, Tensor)
    if alpha == 1.0:
        return t
    return alpha * t + (1.0 - alpha) * content_feat


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` as a float, or raise :class:`InputError` if it is not in [0, 1]."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= a <= 1.0:  # also rejects NaN
        raise InputError(f"alpha must be in [0, 1], got {alpha!r}")
    return a


def normalize_style_weights(weights: Sequence[float] | None, n_styles: int) -> list[float]:
    """Validate interpolation weights (one per style, >= 0, not all 0) and scale them to sum 1."""
    if weights is None:
        return [1.0 / n_styles] * n_styles
    w = [float(x) for x in weights]
    if len(w) != n_styles:
        raise InputError(f"style_weights has {len(w)} entries but {n_styles} style(s) were given")
    if any(not (x >= 0.0) or x == float("inf") for x in w):
        raise InputError(f"style_weights must be finite and >= 0, got {list(weights)}")
    total = sum(w)
    if total <= 0:
        raise InputError("style_weights must not all be 0")
    return [x / total for x in w]


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

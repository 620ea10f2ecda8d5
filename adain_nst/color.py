"""Colour preservation: CORAL recolouring of the style, or luminance-only transfer.

* ``coral``: before stylising, recolour the style image to the content's colour
  statistics (mean and covariance), as in the AdaIN paper and its reference code.
* ``luminance``: stylise, then keep the stylised luminance (Y of YIQ) and the content's
  chrominance (I, Q), as in Gatys et al., "Preserving Color in Neural Artistic Style
  Transfer" (2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InputError

COLOR_MODES = ("coral", "luminance")

# NTSC YIQ, the transform used by Gatys et al. for luminance-only transfer.
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    dtype=torch.float64,
)


def check_color_mode(mode: bool | str | None) -> str | None:
    """Map ``preserve_color`` to ``None``, ``"coral"`` or ``"luminance"`` (``True`` -> coral)."""
    if mode is None or mode is False:
        return None
    if mode is True:
        return "coral"
    if mode in COLOR_MODES:
        return str(mode)
    raise InputError(f"preserve_color must be False, True, 'coral' or 'luminance', got {mode!r}")


def _mat_sqrt(m: Tensor) -> Tensor:
    u, s, vh = torch.linalg.svd(m)
    return u @ torch.diag(s.sqrt()) @ vh


def coral(style: Tensor, content: Tensor) -> Tensor:
    """Recolour ``style`` to the colour mean/covariance of ``content`` (not clamped).

    Args:
        style: ``(3, H, W)`` or ``(B, 3, H, W)`` RGB in [0, 1].
        content: ``(3, H', W')`` or ``(B, 3, H', W')``; the two may differ in size.

    Returns:
        ``style`` recoloured, same shape and dtype; values may leave [0, 1] slightly.
    """
    if style.dim() == 4:
        if content.dim() == 3:
            content = content.unsqueeze(0)
        if content.shape[0] not in (1, style.shape[0]):
            raise InputError(f"batch sizes differ: style {style.shape[0]}, content {content.shape[0]}")
        return torch.stack([coral(s, content[min(i, content.shape[0] - 1)]) for i, s in enumerate(style)])
    if style.dim() != 3 or style.shape[0] != 3 or content.dim() != 3 or content.shape[0] != 3:
        raise InputError(f"coral needs (3, H, W) images, got {tuple(style.shape)} and {tuple(content.shape)}")

    def standardise(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        flat = x.reshape(3, -1).double()
        std, mean = torch.std_mean(flat, dim=1, keepdim=True)
        return (flat - mean) / std, mean, std

    s_norm, _, _ = standardise(style)
    c_norm, c_mean, c_std = standardise(content)
    eye = torch.eye(3, dtype=torch.float64, device=style.device)
    cov_s = s_norm @ s_norm.T + eye
    cov_c = c_norm @ c_norm.T + eye
    recoloured = _mat_sqrt(cov_c) @ torch.linalg.inv(_mat_sqrt(cov_s)) @ s_norm
    out = recoloured * c_std + c_mean
    return out.reshape(style.shape).to(style.dtype)


def colour_moments(pixels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(count, sums, products)`` of ``pixels`` ``(3, N)``: ``N``, ``sum x`` ``(3,)`` and ``sum x x^T``
    ``(3, 3)`` in float64; add them over parts of an image, then :func:`coral_from_moments`."""
    x = pixels.reshape(3, -1).double()
    return torch.tensor(float(x.shape[1]), dtype=torch.float64), x.sum(1), x @ x.T


def coral_from_moments(style: Tensor, count: Tensor, sums: Tensor, products: Tensor) -> Tensor:
    """:func:`coral` with the content given by its colour moments (:func:`colour_moments`, summed over
    tiles), so a content too big to hold as float can still be matched.

    Args:
        style: ``(3, H, W)`` or ``(B, 3, H, W)`` RGB in [0, 1].
        count, sums, products: the content's pixel count, ``sum x`` ``(3,)``, ``sum x x^T`` ``(3, 3)``.

    Returns:
        ``style`` recoloured to the content's mean and covariance, same shape and dtype.
    """
    if style.dim() == 4:
        return torch.stack([coral_from_moments(s, count, sums, products) for s in style])
    if style.dim() != 3 or style.shape[0] != 3:
        raise InputError(f"coral needs (3, H, W) images, got {tuple(style.shape)}")
    n = count.double().to(style.device)
    mean = (sums.double().to(style.device) / n).view(3, 1)
    centred = products.double().to(style.device) - n * (mean @ mean.T)  # sum (x - m)(x - m)^T
    c_std = (centred.diagonal() / (n - 1)).clamp_min(0.0).sqrt().view(3, 1)
    flat = style.reshape(3, -1).double()
    s_std, s_mean = torch.std_mean(flat, dim=1, keepdim=True)
    s_norm = (flat - s_mean) / s_std
    eye = torch.eye(3, dtype=torch.float64, device=style.device)
    cov_s = s_norm @ s_norm.T + eye
    cov_c = centred / (c_std @ c_std.T) + eye
    recoloured = _mat_sqrt(cov_c) @ torch.linalg.inv(_mat_sqrt(cov_s)) @ s_norm
    return (recoloured * c_std + mean).reshape(style.shape).to(style.dtype)


def rgb_to_yiq(image: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB to YIQ (Y in [0, 1], I and Q roughly in [-0.6, 0.6])."""
    m = _RGB_TO_YIQ.to(image.device, image.dtype)
    return torch.einsum("ij,bjhw->bihw", m, image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yiq`."""
    m = torch.linalg.inv(_RGB_TO_YIQ).to(image.device, image.dtype)
    return torch.einsum("ij,bjhw->bihw", m, image)


def transfer_luminance(stylized: Tensor, content: Tensor) -> Tensor:
    """Luminance of ``stylized`` with the chrominance of ``content``.

    Both ``(B, 3, H, W)``; ``content`` is resized (bilinear) if its size differs.
    """
    if content.shape[-2:] != stylized.shape[-2:]:
        content = F.interpolate(content, size=stylized.shape[-2:], mode="bilinear", align_corners=False)
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1))

"""Small encoders and images for the Gatys tests (a step takes milliseconds)."""

from __future__ import annotations

import torch

from adain_nst import EncoderConfig, VGGEncoder
from adain_nst.optimization import DEFAULT_STYLE_LAYERS, GatysLoss

SMALL_WIDTHS = (8, 16, 16, 32, 32)


def small_encoder(last_layer: str = "relu5_1", widths: tuple[int, ...] = SMALL_WIDTHS, seed: int = 0) -> VGGEncoder:
    """Random-weight normalised VGG-19, narrow so a step takes milliseconds."""
    torch.manual_seed(seed)
    enc = VGGEncoder(EncoderConfig(widths=widths, last_layer=last_layer))
    # Default init gives tiny activations after 10+ convs; He-style scaling keeps every
    # layer's features (and so every loss term) in a useful range.
    for conv in [enc.conv0, *enc.convs.values()]:
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.uniform_(conv.bias, -0.1, 0.1)
    return enc.eval().requires_grad_(False)


def smooth_image(seed: int, size: int = 64) -> torch.Tensor:
    """A photo-like (smooth) random RGB image (1, 3, size, size) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def texture_image(seed: int, size: int = 64) -> torch.Tensor:
    """A high-frequency random texture in [0, 1]: very different Gram statistics from a photo."""
    g = torch.Generator().manual_seed(seed)
    stripes = (torch.arange(size).float() * 0.9).sin().view(1, 1, 1, size) * 0.4 + 0.5
    return (stripes + 0.25 * torch.rand(1, 3, size, size, generator=g)).clamp(0, 1)


def style_loss_of(enc: VGGEncoder, image: torch.Tensor, style: torch.Tensor) -> float:
    """Gram style loss of ``image`` against ``style``, every default style layer weighted equally."""
    crit = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS, content_weight=0.0, style_weight=1.0)
    crit.set_style(style)
    with torch.no_grad():
        return float(crit.losses(image)["style"])

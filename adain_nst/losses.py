"""The AdaIN paper's training/evaluation losses (Huang & Belongie 2017, eqs. 11-12).

* content loss: MSE between the relu4_1 features of the output and the AdaIN target t;
* style loss: sum over layers of MSE(channel means) + MSE(channel stds) between the
  output's features and the style's.

Both take features already computed by a :class:`~adain_nst.VGGEncoder`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from .adain import adaptive_instance_norm, calc_mean_std
from .encoder import VGGEncoder

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def content_loss(output_feat: Tensor, target_feat: Tensor) -> Tensor:
    """Mean squared error between two ``(B, C, H, W)`` feature maps (scalar)."""
    return F.mse_loss(output_feat, target_feat)


def style_loss(output_feats: Sequence[Tensor], style_feats: Sequence[Tensor]) -> Tensor:
    """Sum over layers of MSE(mean) + MSE(std) of the per-channel statistics (scalar)."""
    loss = output_feats[0].new_zeros(())
    for o, s in zip(output_feats, style_feats, strict=True):
        om, os_ = calc_mean_std(o)
        sm, ss = calc_mean_std(s)
        loss = loss + F.mse_loss(om, sm) + F.mse_loss(os_, ss)
    return loss


def evaluate_pair(
    encoder: VGGEncoder, output: Tensor, content: Tensor, style: Tensor, layers: Sequence[str] = STYLE_LAYERS
) -> tuple[float, float]:
    """(content loss, style loss) of a stylised ``output`` measured with ``encoder``.

    The content target is AdaIN(encoder(content), encoder(style)) at relu4_1, as in the
    paper, computed in the measuring encoder's own feature space. Images ``(1, 3, H, W)``
    in [0, 1]; ``output`` must have the content's size.
    """
    names = tuple(dict.fromkeys([*layers, "relu4_1"]))
    fo = encoder(output, names)
    fc = encoder(content, ("relu4_1",))
    fs = encoder(style, names)
    target = adaptive_instance_norm(fc["relu4_1"], fs["relu4_1"])
    lc = content_loss(fo["relu4_1"], target)
    ls = style_loss([fo[k] for k in layers], [fs[k] for k in layers])
    return float(lc), float(ls)

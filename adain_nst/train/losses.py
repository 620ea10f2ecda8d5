"""The AdaIN paper's losses (Huang & Belongie 2017, eqs. 11-12), on VGG features.

* content loss :func:`adain_content_loss`: MSE between the features of the decoded image
  and the AdaIN target ``t`` at the decoder's level (relu4_1 in the paper);
* style loss :func:`moment_style_loss`: sum over layers of MSE(channel means) + MSE(channel
  stds) between the decoded image's features and the style image's.

Named apart from the Gatys et al. losses in :mod:`adain_nst.optimization` (Gram matrices).
Both take features already computed by a :class:`~adain_nst.VGGEncoder`; the training loop
(:mod:`.trainer`) and the quality judge (:mod:`adain_nst.quality`) use them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from ..architecture import LEVELS, block_of
from ..errors import InputError
from ..nn.transforms import calc_mean_std

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
"""The paper's style layers."""


def style_layers_for(level: str) -> tuple[str, ...]:
    """Style layers for a decoder at ``level``: the paper's four, plus ``relu5_1`` for a relu5_1 decoder."""
    if level not in LEVELS:
        raise InputError(f"level must be one of {LEVELS}, got {level!r}")
    return tuple(lvl for lvl in LEVELS if lvl in STYLE_LAYERS or block_of(lvl) <= block_of(level))


def adain_content_loss(output_feat: Tensor, target_feat: Tensor) -> Tensor:
    """Mean squared error between two ``(B, C, H, W)`` feature maps (scalar tensor)."""
    if output_feat.shape != target_feat.shape:
        raise InputError(
            f"content features differ in shape: {tuple(output_feat.shape)} vs {tuple(target_feat.shape)}; "
            "the output must have the content's size"
        )
    return F.mse_loss(output_feat, target_feat)


def moment_style_loss(
    output_feats: Sequence[Tensor], style_feats: Sequence[Tensor], weights: Sequence[float] | None = None
) -> Tensor:
    """Sum over layers of MSE(mean) + MSE(std) of the per-channel statistics (scalar tensor).

    ``output_feats[i]`` and ``style_feats[i]`` are ``(B, C_i, H, W)`` and ``(B or 1, C_i, H', W')``
    features of the same layer; spatial sizes may differ. ``weights`` (one per layer, >= 0)
    scale each layer's term; ``None`` weighs them all 1 (the paper).
    """
    if len(output_feats) != len(style_feats) or not output_feats:
        raise InputError(
            f"need one style feature map per output feature map, got {len(output_feats)} and {len(style_feats)}"
        )
    if weights is not None and len(weights) != len(output_feats):
        raise InputError(f"need one style layer weight per layer ({len(output_feats)}), got {len(weights)}")
    loss = output_feats[0].new_zeros(())
    for i, (o, s) in enumerate(zip(output_feats, style_feats, strict=True)):
        om, os_ = calc_mean_std(o)
        sm, ss = calc_mean_std(s)
        term = F.mse_loss(om, sm.expand_as(om)) + F.mse_loss(os_, ss.expand_as(os_))
        loss = loss + (term if weights is None else weights[i] * term)
    return loss


__all__ = ["STYLE_LAYERS", "adain_content_loss", "moment_style_loss", "style_layers_for"]

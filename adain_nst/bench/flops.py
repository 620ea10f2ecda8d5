"""FLOPs of one stylisation call, counted from the architecture plan (:mod:`adain_nst.architecture`)."""

from __future__ import annotations

from ..architecture import ConvCost, conv_costs, decoder_ops, encoder_ops, output_size
from ..model import AdaINModel


def stylize_costs(
    model: AdaINModel,
    height: int,
    width: int,
    *,
    batch: int = 1,
    style_size: tuple[int, int] | None = None,
    cached_style: bool = False,
) -> list[ConvCost]:
    """Every conv one stylisation call runs, named ``content_*``, ``style_*`` and ``decoder_*``.

    ``batch`` contents of ``height x width`` px are padded to multiples of ``model.stride``
    (as :meth:`AdaINModel.stylize` does), encoded up to ``model.level`` and decoded; one style
    image (default: the content's size, unpadded) is encoded unless ``cached_style``.
    """
    enc = encoder_ops(model.encoder.config, upto=model.level)
    dec = decoder_ops(model.decoder.config)
    s = model.stride
    hp, wp = -(-height // s) * s, -(-width // s) * s
    fh, fw = output_size(enc, hp, wp)
    costs = conv_costs(enc, hp, wp, batch=batch, prefix="content_")
    costs += conv_costs(dec, fh, fw, batch=batch, prefix="decoder_")
    if not cached_style:
        sh, sw = style_size or (height, width)
        costs += conv_costs(enc, sh, sw, prefix="style_")
    return costs


def stylize_flops(
    model: AdaINModel,
    height: int,
    width: int,
    *,
    batch: int = 1,
    style_size: tuple[int, int] | None = None,
    cached_style: bool = False,
) -> int:
    """Conv FLOPs (2 x multiply-adds) of one stylisation call; see :func:`stylize_costs`.

    A nominal count: the engine's sub-pixel and Winograd convs do fewer multiply-adds, so its
    GFLOP/s are "effective" (reference FLOPs / time) and can exceed the machine's peak.
    """
    costs = stylize_costs(model, height, width, batch=batch, style_size=style_size, cached_style=cached_style)
    return sum(c.flops for c in costs)


__all__ = ["stylize_costs", "stylize_flops"]

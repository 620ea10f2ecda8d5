"""The plan as plain ``nn.Sequential`` stacks, shaped like the original projects' networks.

Per op: ``input`` -> ``Conv2d(3, 3, 1)`` (a learned ``conv0``, or the fixed map as a frozen
conv); ``conv`` -> ``ReflectionPad2d(1), Conv2d(..., 3)`` or ``Conv2d(..., 3, padding=1)``;
``relu`` -> ``ReLU()``; ``pool`` -> ``MaxPool2d(2, 2, ceil_mode=...)``; ``up`` ->
``Upsample(scale_factor=2, mode="nearest")``. Out-of-place ReLUs, nothing fused: the baseline
the speed benchmark times, and the graph ONNX export writes (standard ops only).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..architecture import Op
from .decoder import Decoder
from .encoder import VGGEncoder
from .transforms import adain_target


def _conv(weight: Tensor, bias: Tensor | None, padding: int) -> nn.Conv2d:
    o, i, k, _ = weight.shape
    conv = nn.Conv2d(i, o, k, padding=padding, bias=bias is not None)
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias is not None:
            conv.bias.copy_(bias)
    return conv


def sequential(ops: list[Op], convs: dict[str, nn.Conv2d], input_map: tuple[Tensor, Tensor] | None) -> nn.Sequential:
    """``ops`` as an ``nn.Sequential`` with weights copied from ``convs`` (``input_map``: (W, b) of the input op)."""
    layers: list[nn.Module] = []
    for op in ops:
        if op.kind == "input":
            assert input_map is not None
            layers.append(_conv(input_map[0], input_map[1], 0))
        elif op.kind == "conv":
            c = convs[op.name]
            if op.padding == "reflect":
                layers += [nn.ReflectionPad2d(1), _conv(c.weight, c.bias, 0)]
            else:
                layers.append(_conv(c.weight, c.bias, 1))
        elif op.kind == "relu":
            layers.append(nn.ReLU())
        elif op.kind == "pool":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=op.ceil))
        else:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    return nn.Sequential(*layers).eval().requires_grad_(False)


def encoder_sequential(encoder: VGGEncoder, upto: str | None = None) -> nn.Sequential:
    """``encoder`` up to ``upto`` (default: its last layer) as an ``nn.Sequential``."""
    ops = encoder.ops if upto is None else encoder.ops[: encoder.layer_names.index(upto) + 2]
    if ops[0].name == "conv0":
        input_map = (encoder.conv0.weight, encoder.conv0.bias)
    else:
        input_map = (encoder.input_weight, encoder.input_bias)
    return sequential(ops, dict(encoder.convs.items()), input_map)


def decoder_sequential(decoder: Decoder) -> nn.Sequential:
    """``decoder`` as an ``nn.Sequential``."""
    return sequential(decoder.ops, dict(decoder.convs.items()), None)


class ReferenceAdaIN(nn.Module):
    """pytorch-AdaIN's network structure for an encoder/decoder pair, from the plan.

    Its output equals :meth:`adain_nst.AdaINModel.forward`'s on inputs whose sides are
    multiples of the decoder's stride; the speed benchmark times it as the baseline.
    """

    def __init__(self, encoder: VGGEncoder, decoder: Decoder, eps: float = 1e-5) -> None:
        super().__init__()
        self.vgg = encoder_sequential(encoder, decoder.level)
        self.decoder = decoder_sequential(decoder)
        self.eps = eps

    def forward(
        self, content: Tensor, style: Tensor | None = None, alpha: float = 1.0, style_feat: Tensor | None = None
    ) -> Tensor:
        content_f = self.vgg(content)
        style_f = self.vgg(style) if style_feat is None else style_feat
        return self.decoder(adain_target(content_f, [style_f], [1.0], alpha, self.eps))


__all__ = ["ReferenceAdaIN", "decoder_sequential", "encoder_sequential", "sequential"]

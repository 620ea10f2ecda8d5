"""Decoders: the mirror of a VGG-19 encoder from ``relu{k}_1`` back to RGB, built from the plan."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..architecture import DecoderConfig, decoder_ops
from ..pretrained import formats
from ._load import load_strict


class Decoder(nn.Module):
    """Maps ``level`` features ``(B, widths[-1], h, w)`` to an image ``(B, 3, s h, s w)``.

    ``s`` is the level's stride (8 for relu4_1, 16 for relu5_1, 1 for relu1_1). The output
    is not clamped: values near [0, 1] for a trained decoder.
    """

    def __init__(self, config: DecoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or DecoderConfig()
        self.ops = decoder_ops(self.config)
        self.convs = nn.ModuleDict(
            {
                op.name: nn.Conv2d(op.in_channels, op.out_channels, 3, padding=1, padding_mode="reflect")
                for op in self.ops
                if op.kind == "conv"
            }
        )

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    @property
    def level(self) -> str:
        return self.config.level

    @property
    def upscale(self) -> int:
        """Output pixels per input feature pixel."""
        return 2 ** sum(op.kind == "up" for op in self.ops)

    def forward(self, feat: Tensor) -> Tensor:
        x = feat
        for op in self.ops:
            if op.kind == "conv":
                x = self.convs[op.name](x)
            elif op.kind == "relu":
                x = F.relu(x, inplace=True)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    # -- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, config: DecoderConfig, state_dict: dict[str, Tensor], what: str = "decoder") -> Decoder:
        """Build ``config`` and load ``state_dict`` (our key layout) strictly; eval mode, frozen."""
        decoder = cls(config)
        load_strict(decoder, state_dict, what)
        return decoder

    @classmethod
    def from_checkpoint(cls, checkpoint: formats.CheckpointLike, *, layout: str | None = None) -> Decoder:
        """Decoder from a file or state dict in any supported layout (detected from the keys).

        pytorch-AdaIN ``decoder.pth``, cd16x ``d1.pth`` .. ``d5.pth``, our ``.safetensors`` or
        an ``adain-nst train`` ``checkpoint.pt``; the level follows from the convs present.
        """
        config, sd = formats.read_decoder(checkpoint, layout=layout)
        return cls.from_state_dict(config, sd, formats.describe(checkpoint, "decoder"))

    @classmethod
    def from_reference_checkpoint(cls, checkpoint: formats.CheckpointLike) -> Decoder:
        """Decoder from pytorch-AdaIN's ``decoder.pth`` layout (keys ``"1.weight"``...)."""
        return cls.from_checkpoint(checkpoint, layout="reference")

    @classmethod
    def from_cd16x_checkpoint(cls, checkpoint: formats.CheckpointLike) -> Decoder:
        """Decoder from a cd16x ``d{k}.pth`` (or a ``.safetensors`` in our own key layout)."""
        return cls.from_checkpoint(checkpoint, layout="cd16x")


__all__ = ["Decoder"]

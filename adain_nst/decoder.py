"""Decoder: the mirror of the normalised VGG-19 encoder from relu4_1 back to RGB."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError


@dataclass(frozen=True)
class DecoderConfig:
    """Architecture of a :class:`Decoder`.

    Args:
        widths: channels of encoder blocks 1..4 that the decoder mirrors
            (full VGG: 64, 128, 256, 512; cd16x: 16, 32, 64, 128). Input has ``widths[3]``.
        final_relu: apply a ReLU after the last conv (the cd16x decoders do; the AdaIN
            paper's decoder does not, so its output is unbounded).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512)
    final_relu: bool = False

    def __post_init__(self) -> None:
        if len(self.widths) != 4 or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"decoder widths must be 4 positive ints, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecoderConfig:
        unknown = set(d) - {"widths", "final_relu"}
        if unknown:
            raise ConfigError(f"unknown decoder config keys: {sorted(unknown)}")
        return cls(**{**d, "widths": tuple(d.get("widths", cls.widths))})


def decoder_plan(widths: tuple[int, ...]) -> list[tuple[str, int, int, bool]]:
    """(name, in, out, upsample_after) for each 3x3 conv, deepest first.

    Names mirror the encoder conv they invert, as in the cd16x checkpoints.
    """
    w1, w2, w3, w4 = widths
    return [
        ("conv4_1", w4, w3, True),
        ("conv3_4", w3, w3, False),
        ("conv3_3", w3, w3, False),
        ("conv3_2", w3, w3, False),
        ("conv3_1", w3, w2, True),
        ("conv2_2", w2, w2, False),
        ("conv2_1", w2, w1, True),
        ("conv1_2", w1, w1, False),
        ("conv1_1", w1, 3, False),
    ]


class Decoder(nn.Module):
    """Maps relu4_1 features ``(B, widths[3], h, w)`` to an image ``(B, 3, 8h, 8w)``.

    The output is not clamped: values near [0, 1] for a trained decoder.
    """

    def __init__(self, config: DecoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or DecoderConfig()
        self.plan = decoder_plan(self.config.widths)
        self.convs = nn.ModuleDict(
            {name: nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect") for name, cin, cout, _ in self.plan}
        )

    @property
    def in_channels(self) -> int:
        return self.config.widths[3]

    def forward(self, feat: Tensor) -> Tensor:
        x = feat
        last = len(self.plan) - 1
        for i, (name, _, _, upsample) in enumerate(self.plan):
            x = self.convs[name](x)
            if i < last or self.config.final_relu:
                x = F.relu(x, inplace=True)
            if upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    @classmethod
    def from_reference_checkpoint(cls, checkpoint: str | os.PathLike[str] | dict[str, Tensor]) -> Decoder:
        """Decoder from pytorch-AdaIN's ``decoder.pth`` layout (keys ``"1.weight"``...)."""
        from .checkpoints import decoder_from_reference

        return decoder_from_reference(checkpoint)

    @classmethod
    def from_cd16x_checkpoint(cls, checkpoint: str | os.PathLike[str] | dict[str, Tensor]) -> Decoder:
        """Decoder from a cd16x ``d4.pth`` (or a ``.safetensors`` in our own key layout)."""
        from .checkpoints import decoder_from_cd16x

        return decoder_from_cd16x(checkpoint)

"""VGG encoders with named layers (conv1_1 ... relu5_4).

Two variants share one class:

* ``"normalized"``: the VGG-19 used by AdaIN and Gatys et al. (a leading 1x1 conv that
  maps RGB in [0, 1] to the caffe input convention, reflection padding, ceil-mode pools).
  The full network (widths 64/128/256/512/512) and the 16x-compressed cd16x family
  (16/32/64/128/128) are both this variant.
* ``"imagenet"``: torchvision's ImageNet VGG-16/19 ``features`` (zero padding, plain
  max-pools) with the ImageNet mean/std normalisation done inside the encoder, so inputs
  are still RGB in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, InputError

VARIANTS = ("normalized", "imagenet")
BLOCK_DEPTHS = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(arch: str = "vgg19") -> list[str]:
    """All layer names of ``arch`` in forward order, e.g. ``conv1_1, relu1_1, ..., pool5``."""
    names: list[str] = []
    for block, depth in enumerate(BLOCK_DEPTHS[arch], start=1):
        for i in range(1, depth + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of a :class:`VGGEncoder`.

    Args:
        widths: output channels of the five conv blocks (full VGG: 64, 128, 256, 512, 512).
        last_layer: deepest layer that is built; later layers do not exist in the module.
        variant: ``"normalized"`` (AdaIN/Gatys VGG-19) or ``"imagenet"`` (torchvision VGG).
        arch: ``"vgg19"`` or ``"vgg16"`` (block depths 2-2-4-4-4 or 2-2-3-3-3).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    last_layer: str = "relu4_1"
    variant: str = "normalized"
    arch: str = "vgg19"

    def __post_init__(self) -> None:
        if self.arch not in BLOCK_DEPTHS:
            raise ConfigError(f"unknown VGG arch {self.arch!r}; expected one of {sorted(BLOCK_DEPTHS)}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"unknown encoder variant {self.variant!r}; expected one of {VARIANTS}")
        if len(self.widths) != 5 or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"widths must be 5 positive ints, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.last_layer not in layer_names(self.arch):
            raise ConfigError(f"unknown layer {self.last_layer!r} for {self.arch}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        known = {"widths", "last_layer", "variant", "arch"}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown encoder config keys: {sorted(unknown)}")
        return cls(**{**d, "widths": tuple(d.get("widths", cls.widths))})


def _conv_plan(config: EncoderConfig) -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) of every 3x3 conv up to ``config.last_layer``."""
    plan: list[tuple[str, int, int]] = []
    cin = 3
    names = layer_names(config.arch)
    for name in names[: names.index(config.last_layer) + 1]:
        if name.startswith("conv"):
            cout = config.widths[int(name[4]) - 1]
            plan.append((name, cin, cout))
            cin = cout
    return plan


class VGGEncoder(nn.Module):
    """VGG feature extractor with named layers.

    Input: float tensor ``(B, 3, H, W)``, RGB in [0, 1]. Layer ``*{k}_*`` outputs have
    ``widths[k-1]`` channels at 1/2**(k-1) of the input size (ceil-rounded for the
    normalized variant).
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        normalized = self.config.variant == "normalized"
        self.layer_names = layer_names(self.config.arch)
        self.layer_names = self.layer_names[: self.layer_names.index(self.config.last_layer) + 1]
        if normalized:
            self.conv0 = nn.Conv2d(3, 3, 1)
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        padding_mode = "reflect" if normalized else "zeros"
        self.convs = nn.ModuleDict(
            {
                name: nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode)
                for name, cin, cout in _conv_plan(self.config)
            }
        )

    @property
    def channels(self) -> dict[str, int]:
        """Channel count of every layer this encoder has."""
        out, c = {}, 3
        for name in self.layer_names:
            if name.startswith("conv"):
                c = self.convs[name].out_channels
            out[name] = c
        return out

    def check_layers(self, layers: Sequence[str]) -> None:
        """Raise :class:`InputError` naming any layer this encoder does not have."""
        if isinstance(layers, str):
            raise InputError(f"layers must be a sequence of names, not the string {layers!r}")
        missing = [n for n in layers if n not in self.layer_names]
        if missing:
            raise InputError(
                f"unknown layer(s) {missing} for this encoder; it has {self.layer_names[0]} .. "
                f"{self.layer_names[-1]} ({self.config.arch}, up to {self.config.last_layer})"
            )

    def forward(self, image: Tensor, layers: Sequence[str] = ("relu4_1",)) -> dict[str, Tensor]:
        """Features of ``image`` at ``layers``; nothing past the deepest requested layer runs.

        Args:
            image: ``(B, 3, H, W)`` float RGB in [0, 1].
            layers: names such as ``"relu4_1"``; see :func:`layer_names`.

        Returns:
            dict from each requested name to its ``(B, C, H', W')`` feature map.
        """
        self.check_layers(layers)
        wanted = set(layers)
        deepest = max(self.layer_names.index(n) for n in layers) if layers else -1
        if self.config.variant == "normalized":
            x = self.conv0(image)
        else:
            x = (image - self.mean) / self.std
        out: dict[str, Tensor] = {}
        for name in self.layer_names[: deepest + 1]:
            kind = name[:4]
            if kind == "conv":
                x = self.convs[name](x)
            elif kind == "relu":
                # In place saves an activation copy unless the caller keeps the conv output.
                x = F.relu(x, inplace="conv" + name[4:] not in wanted)
            else:
                x = F.max_pool2d(x, 2, 2, ceil_mode=self.config.variant == "normalized")
            if name in wanted:
                out[name] = x
        return out

    # -- loaders ---------------------------------------------------------------------------
    @classmethod
    def from_reference_checkpoint(
        cls, checkpoint: str | os.PathLike[str] | dict[str, Tensor], *, last_layer: str | None = None
    ) -> VGGEncoder:
        """Encoder from pytorch-AdaIN's ``vgg_normalised.pth`` layout (keys ``"0.weight"``...).

        ``checkpoint`` is a ``.pth`` / ``.safetensors`` path or a state dict; float16 is cast
        to float32. ``last_layer`` truncates (default: every conv the file holds).
        """
        from .checkpoints import encoder_from_reference

        return encoder_from_reference(checkpoint, last_layer=last_layer)

    @classmethod
    def from_cd16x_checkpoint(
        cls, checkpoint: str | os.PathLike[str] | dict[str, Tensor], *, last_layer: str | None = None
    ) -> VGGEncoder:
        """Encoder from a Collaborative-Distillation cd16x file (``e4.pth``, ``e5.pth``)."""
        from .checkpoints import encoder_from_cd16x

        return encoder_from_cd16x(checkpoint, last_layer=last_layer)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **kwargs: Any) -> VGGEncoder:
        """Encoder of a registered model, Hub repo or local folder; fetches only the encoder.

        Keyword arguments are those of :meth:`adain_nst.AdaINModel.from_pretrained`.
        """
        from .hub import load_encoder

        return load_encoder(name_or_path, **kwargs)


def num_params(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["EncoderConfig", "VGGEncoder", "layer_names", "num_params"]

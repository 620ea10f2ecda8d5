"""VGG encoders with named layers (``conv1_1 ... relu5_4``), built from :mod:`adain_nst.architecture`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_layers
from ..architecture import EncoderConfig, encoder_ops, input_affine
from ..pretrained import formats, hub
from ..pretrained.bundled import bundled_path
from ..pretrained.folder import read_encoder_file
from ..pretrained.registry import ENCODER_WEIGHTS
from ._load import load_strict


class VGGEncoder(nn.Module):
    """VGG feature extractor with named layers; differentiable (Gatys, training losses).

    Input: float tensor ``(B, 3, H, W)``, RGB in [0, 1], whatever the variant (the variant's
    input transform runs inside). Layer ``*{k}_*`` outputs have ``widths[k-1]`` channels at
    1/2**(k-1) of the input size (ceil-rounded for the normalised variant, floor otherwise).
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        self.ops = encoder_ops(self.config)
        self.layer_names = self.config.layers
        first = self.ops[0]
        if first.name == "conv0":
            self.conv0 = nn.Conv2d(3, 3, 1)
        else:
            m, b = input_affine(self.config.variant)
            self.register_buffer("input_weight", torch.tensor(m).view(3, 3, 1, 1), persistent=False)
            self.register_buffer("input_bias", torch.tensor(b), persistent=False)
        self.convs = nn.ModuleDict(
            {
                op.name: nn.Conv2d(op.in_channels, op.out_channels, 3, padding=1, padding_mode=op.padding)
                for op in self.ops
                if op.kind == "conv"
            }
        )

    @property
    def channels(self) -> dict[str, int]:
        """Channel count of every layer this encoder has."""
        return {op.name: op.out_channels for op in self.ops[1:]}

    def check_layers(self, layers: Sequence[str]) -> None:
        """Raise :class:`InputError` naming any layer this encoder does not have."""
        check_layers(layers, self.layer_names, f"this encoder ({self.config.arch}, up to {self.config.last_layer})")

    def preprocess(self, image: Tensor) -> Tensor:
        """The variant's input transform of ``(B, 3, H, W)`` RGB in [0, 1]."""
        if self.ops[0].name == "conv0":
            return self.conv0(image)
        return F.conv2d(image, self.input_weight.to(image.dtype), self.input_bias.to(image.dtype))

    def forward(self, image: Tensor, layers: Sequence[str] = ("relu4_1",)) -> dict[str, Tensor]:
        """Features of ``image`` at ``layers``; nothing past the deepest requested layer runs.

        Args:
            image: ``(B, 3, H, W)`` float RGB in [0, 1].
            layers: names such as ``"relu4_1"``; see :func:`adain_nst.architecture.layer_names`.

        Returns:
            dict from each requested name to its ``(B, C, H', W')`` feature map.
        """
        self.check_layers(layers)
        wanted = set(layers)
        deepest = max(self.layer_names.index(n) for n in layers) if layers else -1
        x = self.preprocess(image)
        out: dict[str, Tensor] = {}
        for op in self.ops[1 : deepest + 2]:
            if op.kind == "conv":
                x = self.convs[op.name](x)
            elif op.kind == "relu":
                # In place saves an activation copy unless the caller keeps the conv output.
                x = F.relu(x, inplace="conv" + op.name[4:] not in wanted)
            else:
                x = F.max_pool2d(x, 2, 2, ceil_mode=op.ceil)
            if op.name in wanted:
                out[op.name] = x
        return out

    # -- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_state_dict(cls, config: EncoderConfig, state_dict: dict[str, Tensor], what: str = "encoder") -> VGGEncoder:
        """Build ``config`` and load ``state_dict`` (our key layout) strictly; eval mode, frozen."""
        encoder = cls(config)
        load_strict(encoder, state_dict, what)
        return encoder

    @classmethod
    def from_checkpoint(
        cls, checkpoint: formats.CheckpointLike, *, last_layer: str | None = None, layout: str | None = None
    ) -> VGGEncoder:
        """Encoder from a file or state dict in any supported layout (detected from the keys).

        Layouts: pytorch-AdaIN ``vgg_normalised.pth``, cd16x ``e{k}.pth``, torchvision
        ``vgg16/19-*.pth``, ours (``.safetensors``). ``last_layer`` truncates.
        """
        config, sd = formats.read_encoder(checkpoint, last_layer=last_layer, layout=layout)
        return cls.from_state_dict(config, sd, formats.describe(checkpoint, "encoder"))

    @classmethod
    def from_reference_checkpoint(
        cls, checkpoint: formats.CheckpointLike, *, last_layer: str | None = None
    ) -> VGGEncoder:
        """Encoder from pytorch-AdaIN's ``vgg_normalised.pth`` layout (keys ``"0.weight"``...).

        ``checkpoint`` is a ``.pth`` / ``.safetensors`` path or a state dict; float16 is cast
        to float32. ``last_layer`` truncates (default: every conv the file holds).
        """
        return cls.from_checkpoint(checkpoint, last_layer=last_layer, layout="reference")

    @classmethod
    def from_cd16x_checkpoint(cls, checkpoint: formats.CheckpointLike, *, last_layer: str | None = None) -> VGGEncoder:
        """Encoder from a Collaborative-Distillation cd16x file (``e1.pth`` .. ``e5.pth``)."""
        return cls.from_checkpoint(checkpoint, last_layer=last_layer, layout="cd16x")

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str], *, device: str | torch.device | None = None, **hub_kwargs: Any
    ) -> VGGEncoder:
        """Encoder of a registered encoder or model, Hub repo or local folder; fetches only the encoder.

        Registered encoder files bundled with the package (``"vgg19-imagenet"``, ``"cd16x-e1"`` ..
        ``"cd16x-e5"``; see ``adain_nst.pretrained.registry.ENCODER_WEIGHTS``) load from it, never
        from the network. ``hub_kwargs``: ``revision``, ``cache_dir``, ``local_files_only``,
        ``force_download``, ``token`` (see :class:`adain_nst.pretrained.hub.HubOptions`).
        """
        weights = ENCODER_WEIGHTS.get(str(name_or_path))
        if weights is not None and weights.bundled and not hub_kwargs:
            encoder = cls.from_checkpoint(bundled_path(weights.file))
            return encoder.to(device) if device is not None else encoder
        paths, config = hub.fetch_model_files(name_or_path, ("encoder",), **hub_kwargs)
        sd = read_encoder_file(paths["encoder"], config.encoder)
        encoder = cls.from_state_dict(config.encoder, sd, str(paths["encoder"]))
        return encoder.to(device) if device is not None else encoder


def num_params(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


__all__ = ["VGGEncoder", "num_params"]

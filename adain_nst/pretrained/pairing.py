"""Which encoder and decoder belong together, told from the weights before a model is built.

A decoder inverts the features of one encoder at one level. Put behind another encoder it may
still run (the shapes can agree) but it gives a washed-out, wrong image. The rules, strongest
evidence first:

1. **fingerprint**: a decoder file that records :data:`~adain_nst.pretrained.formats.ENCODER_FINGERPRINT`
   (``adain-nst train`` writes it) belongs with the encoder whose weights up to the decoder's
   level give that fingerprint (:func:`encoder_fingerprint`); nothing else is asked of it;
2. **reach and width**: the encoder must compute the decoder's level, with as many channels there
   as the decoder takes;
3. **depth**: an encoder whose widths are not the full VGG's (64-128-256-512-512) was made for
   its deepest layer (the cd16x encoders are distilled per depth: ``e5`` is not ``e4`` plus a
   layer, its first layers differ), so it belongs with a decoder at exactly that level. The full
   VGG (pytorch-AdaIN's ``vgg_normalised.pth``, torchvision's) is one network, cut anywhere.

Pure functions of configs, state dicts and metadata; :meth:`adain_nst.AdaINModel.from_checkpoints`,
:func:`adain_nst.model_from_files` and the CLI's ``--encoder/--decoder`` call :func:`check_pairing`
(``check_pairing=False`` / ``--no-pairing-check`` skips it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..architecture import BLOCK_DEPTHS, DecoderConfig, EncoderConfig, block_of
from ..errors import ConfigError
from .formats import ENCODER_FINGERPRINT, StateDict

FULL_WIDTHS = (64, 128, 256, 512, 512)
"""Widths of the ImageNet VGG-16/19 blocks: an encoder with them can be cut at any depth."""


def cut_anywhere(config: EncoderConfig) -> bool:
    """Whether ``config`` is a full-width VGG (in the blocks it has), one network whose every depth is usable."""
    k = block_of(config.last_layer)
    return config.widths[:k] == FULL_WIDTHS[:k]


def made_for(config: EncoderConfig) -> str | None:
    """The level a per-depth encoder (not :func:`cut_anywhere`) was made for: its deepest layer.

    ``config`` must be the encoder as stored (not cut). ``None`` for a full-width VGG.
    """
    return None if cut_anywhere(config) else config.last_layer


def encoder_fingerprint(state_dict: Mapping[str, torch.Tensor], level: str) -> str:
    """16 hex digits identifying the encoder weights (our key layout) a decoder at ``level`` sees.

    The input conv and every conv up to ``conv{k}_1`` for ``level = relu{k}_1``, by name, shape
    and value rounded to float16, so a float16-stored copy (the bundled files) fingerprints
    as its float32 original; deeper layers (which a decoder never sees) do not count.
    """
    k = block_of(level)
    h = hashlib.sha256(f"level={level}".encode())
    for key in sorted(state_dict):
        m = re.fullmatch(r"(?:convs\.)?conv(\d)_(\d+)\.(?:weight|bias)", key)
        if not (key.startswith("conv0.") or (m and (int(m.group(1)), int(m.group(2))) <= (k, 1))):
            continue
        t = state_dict[key].detach().to("cpu", torch.float16).contiguous()
        h.update(f"{key}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def pairing_problem(
    encoder: EncoderConfig,
    decoder: DecoderConfig,
    *,
    encoder_state: Mapping[str, torch.Tensor] | None = None,
    decoder_metadata: Mapping[str, str] | None = None,
) -> str | None:
    """Why ``encoder`` (as stored, not cut) and ``decoder`` do not belong together, or ``None``.

    ``encoder_state`` (our layout) and ``decoder_metadata`` enable the fingerprint rule.
    """
    level = decoder.level
    recorded = (decoder_metadata or {}).get(ENCODER_FINGERPRINT)
    if recorded and encoder_state is not None and encoder.reaches(level):
        actual = encoder_fingerprint(encoder_state, level)
        if actual != recorded:
            return f"the decoder was trained with another encoder (fingerprint {recorded}; this encoder's is {actual})"
        return None
    if not encoder.reaches(level):
        return f"the encoder stops at {encoder.last_layer}, before the decoder's level {level}"
    channels = encoder.widths[block_of(level) - 1]
    if channels != decoder.in_channels:
        return (
            f"the encoder has {channels} channels at {level} but the decoder takes {decoder.in_channels}: "
            "they come from different networks"
        )
    target = made_for(encoder)
    if target is not None and target != level:
        return (
            f"the encoder was made for {target} (its deepest layer; encoders of reduced widths, such as "
            f"the cd16x family's, are distilled per depth) but the decoder inverts {level}"
        )
    return None


def _sibling(name: str, kind: str, k: int) -> str | None:
    """``…/e4.pth`` for the encoder ``kind="e"`` at depth ``k`` next to a cd16x-style ``…/d5.pth``, else None."""
    p = Path(name)
    m = re.fullmatch(r"[ed](\d)(-[\w-]+)?", p.stem)
    if not m or not 1 <= k <= len(BLOCK_DEPTHS["vgg19"]):
        return None
    return str(p.with_name(f"{kind}{k}{p.suffix}"))


def pairing_advice(encoder: EncoderConfig, decoder: DecoderConfig, encoder_name: str, decoder_name: str) -> str:
    """Which files belong together instead, as one sentence (cd16x-style names are spelled out)."""
    level = decoder.level
    k = block_of(level)
    target = made_for(encoder)
    enc_for_dec = _sibling(encoder_name, "e", k) or f"an encoder made for {level}"
    parts = [f"use {enc_for_dec} with {decoder_name}"]
    if target is not None and target.startswith("relu") and target.endswith("_1"):
        kt = block_of(target)
        dec_for_enc = _sibling(decoder_name, "d", kt) or f"a {target} decoder"
        parts.append(f"or {dec_for_enc} with {encoder_name}")
    return " ".join(parts)


def check_pairing(
    encoder: EncoderConfig,
    decoder: DecoderConfig,
    *,
    encoder_state: StateDict | None = None,
    decoder_metadata: Mapping[str, str] | None = None,
    encoder_name: str = "the encoder",
    decoder_name: str = "the decoder",
) -> None:
    """Raise :class:`~adain_nst.errors.ConfigError` when :func:`pairing_problem` finds one.

    The one-line message names both files, the reason, which files belong together and the
    override (``check_pairing=False``, CLI ``--no-pairing-check``).
    """
    problem = pairing_problem(encoder, decoder, encoder_state=encoder_state, decoder_metadata=decoder_metadata)
    if problem is None:
        return
    advice = pairing_advice(encoder, decoder, encoder_name, decoder_name)
    level = decoder.level
    buildable = encoder.reaches(level) and encoder.widths[block_of(level) - 1] == decoder.in_channels
    override = " (check_pairing=False, or --no-pairing-check in the CLI, uses them anyway)" if buildable else ""
    raise ConfigError(
        f"{encoder_name} and {decoder_name} do not belong together: {problem}. {advice[0].upper()}{advice[1:]}"
        + override
    )


__all__ = [
    "FULL_WIDTHS",
    "check_pairing",
    "cut_anywhere",
    "encoder_fingerprint",
    "made_for",
    "pairing_advice",
    "pairing_problem",
]

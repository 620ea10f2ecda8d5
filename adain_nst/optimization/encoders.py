"""The encoder Gatys et al. optimisation measures with: given, read from a file, or fetched.

The torchvision ImageNet VGG-16/19 files (the ``"imagenet"`` variant) are recorded, with their
full sha256, in the one weights registry, :data:`adain_nst.pretrained.registry.ENCODER_WEIGHTS`;
:func:`load_torchvision_vgg` checks a file against its record before reading it.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from .._io import sha256_file
from ..errors import ChecksumError, ConfigError, InputError, WeightsNotFoundError
from ..nn.encoder import VGGEncoder
from ..pretrained.registry import ENCODER_WEIGHTS, EncoderWeights, encoder_weights_for_file

EncoderLike = VGGEncoder | str | os.PathLike[str]

# The real ImageNet VGG-19 Gatys et al. used, bundled (8-bit): works offline. "cd16x-e5" is the fast option.
DEFAULT_ENCODER = "vgg19-imagenet"

# arch -> the registry record of torchvision's ImageNet file for it ("vgg16", "vgg19").
_TORCHVISION = {w.arch: w for w in ENCODER_WEIGHTS.values() if w.name.startswith("torchvision-")}
TORCHVISION_ARCHS: tuple[str, ...] = tuple(sorted(_TORCHVISION))


def torchvision_weights(arch: str) -> EncoderWeights:
    """The registry record (URL, file name, size, full sha256) of torchvision's ImageNet ``arch`` file.

    ``arch``: ``"vgg16"`` or ``"vgg19"``; anything else raises :class:`InputError`.
    """
    if arch not in _TORCHVISION:
        raise InputError(f"arch must be one of {list(TORCHVISION_ARCHS)}, got {arch!r}")
    return _TORCHVISION[arch]


def load_torchvision_vgg(
    path: str | os.PathLike[str],
    *,
    arch: str = "vgg19",
    last_layer: str = "relu5_1",
    check_sha256: bool = True,
) -> VGGEncoder:
    """``"imagenet"`` :class:`VGGEncoder` from a torchvision ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``.

    Args:
        path: the downloaded checkpoint (URLs: :func:`torchvision_weights`, or
            ``adain_nst.pretrained.registry.ENCODER_WEIGHTS``).
        arch: ``"vgg16"`` or ``"vgg19"``; the file must hold that network.
        last_layer: build up to this layer (Gatys needs relu5_1 at most); the classifier
            and deeper convs are dropped.
        check_sha256: compare the file with the published full digest first and raise
            :class:`ChecksumError` on a mismatch; turn off for retrained or converted files.

    Returns:
        the encoder in eval mode, frozen; inputs RGB in [0, 1] (ImageNet mean/std applied inside).

    Raises:
        InputError: unknown ``arch``. WeightsNotFoundError (a ``FileNotFoundError``): no file
        at ``path``. ChecksumError: the digest differs. ConfigError: the file is not a
        torchvision ``arch`` checkpoint.
    """
    spec = torchvision_weights(arch)
    p = Path(path)
    if not p.is_file():
        raise WeightsNotFoundError(f"checkpoint not found: {p} (download {spec.url})")
    if check_sha256:
        actual = sha256_file(p)
        if actual != spec.sha256:
            raise ChecksumError(
                f"{p} has sha256 {actual}, expected {spec.sha256} for torchvision's {spec.filename}; "
                "download it again, or pass check_sha256=False for a file you trust"
            )
    encoder = VGGEncoder.from_checkpoint(p, layout="torchvision", last_layer=last_layer)
    if encoder.config.arch != arch:
        found = encoder.config.arch
        raise ConfigError(f"{p} holds a torchvision {found}, not {arch}; pass arch={found!r}")
    return encoder


def resolve_encoder(encoder: EncoderLike | None) -> VGGEncoder:
    """A :class:`VGGEncoder` as given, or loaded from a checkpoint file, registry name, Hub repo or folder.

    * a :class:`VGGEncoder` is used as is;
    * an existing file is read in any supported key layout (pytorch-AdaIN
      ``vgg_normalised.pth``, cd16x ``e5.pth``, torchvision ``vgg16/vgg19-*.pth``, or ours);
      a file named like a published torchvision file is first checked against its sha256,
      and VGG-16 and VGG-19 are told apart by the feature indices;
    * a bundled encoder's registry name (``"vgg19-imagenet"``, ``"cd16x-e1"`` .. ``"cd16x-e5"``)
      loads from the package;
    * anything else goes to :meth:`VGGEncoder.from_pretrained` (only the encoder is
      fetched); ``None`` is :data:`DEFAULT_ENCODER`.
    """
    if isinstance(encoder, VGGEncoder):
        return encoder
    if isinstance(encoder, nn.Module):
        raise InputError(f"encoder must be a VGGEncoder, got {type(encoder).__name__}")
    if encoder is not None and Path(encoder).is_file():
        path = Path(encoder)
        record = encoder_weights_for_file(path.name)
        if record is not None and _TORCHVISION.get(record.arch) is record:
            return load_torchvision_vgg(path, arch=record.arch)  # the published file: verify it
        return VGGEncoder.from_checkpoint(path)
    return VGGEncoder.from_pretrained(DEFAULT_ENCODER if encoder is None else encoder)


__all__ = [
    "DEFAULT_ENCODER",
    "TORCHVISION_ARCHS",
    "EncoderLike",
    "load_torchvision_vgg",
    "resolve_encoder",
    "torchvision_weights",
]

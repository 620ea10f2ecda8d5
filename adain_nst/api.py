"""Top-level convenience: ``adain_nst.stylize`` with a cached pretrained model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from .checkpoints import load_decoder_any, load_encoder_any
from .image import ImageLike
from .model import AdaINModel

_CACHE: dict[tuple[str, str, str], AdaINModel] = {}


def default_model_name() -> str:
    """Name of the registered model :func:`stylize` uses when none is given."""
    from .registry import DEFAULT_MODEL

    return DEFAULT_MODEL


def get_model(
    model: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
    **hub_kwargs: Any,
) -> AdaINModel:
    """Load a model by registry name, Hub repo id or local folder, once per process.

    Later calls with the same ``(model, device)`` return the same instance; see
    :func:`clear_cache`. ``hub_kwargs`` go to :meth:`AdaINModel.from_pretrained`.
    """
    name = str(model) if model is not None else default_model_name()
    dev = str(torch.device(device)) if device is not None else "cpu"
    key = (name, dev, repr(sorted(hub_kwargs.items())))
    if key not in _CACHE:
        _CACHE[key] = AdaINModel.from_pretrained(name, device=dev, **hub_kwargs)
    return _CACHE[key]


def clear_cache() -> None:
    """Forget every model :func:`get_model` loaded (frees their memory)."""
    _CACHE.clear()


def model_from_files(
    encoder: str | os.PathLike[str],
    decoder: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
) -> AdaINModel:
    """Model from an encoder and a decoder file in any supported layout.

    Layouts: pytorch-AdaIN ``vgg_normalised.pth`` / ``decoder.pth``, cd16x ``e4.pth`` /
    ``d4.pth``, or our own ``.safetensors``. The layout is detected from the keys.
    """
    model = AdaINModel(load_encoder_any(encoder, last_layer="relu4_1"), load_decoder_any(decoder)).eval()
    return model.to(device) if device is not None else model


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    alpha: float = 1.0,
    *,
    model: AdaINModel | str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> Any:
    """Stylise ``content`` with ``style`` using a pretrained AdaIN model.

    Args:
        content: path, PIL image, numpy array (HWC) or tensor (CHW / BCHW) in [0, 1].
        style: one style image of any of those kinds, or a list to interpolate.
        alpha: degree of stylisation in [0, 1].
        model: an :class:`AdaINModel`, a registered name (see ``adain-nst models``), a Hub
            repo id or a local ``save_pretrained`` folder; default: the registry's default.
        device: where to run (``"cpu"``, ``"cuda"``...); default CPU, or the model's device.
        options: ``style_weights``, ``preserve_color``, ``content_size``, ``style_size``
            (see :meth:`AdaINModel.stylize`).

    Returns:
        The same kind as ``content`` (a path gives a PIL image), values in [0, 1].
    """
    if not isinstance(model, AdaINModel):
        model = get_model(model, device=device)
    elif device is not None:
        model = model.to(device)
    return model.stylize(content, style, alpha, **options)

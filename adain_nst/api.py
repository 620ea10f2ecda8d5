"""The top-level verbs: ``load_model``, ``stylize``, ``list_models`` (models cached per process)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .engine.runtime import resolve_device, resolve_dtype
from .errors import InputError
from .image import ImageLike
from .masks import MaskLike, load_masks
from .model import AdaINModel
from .multilevel import MultiLevelModel
from .pipeline import check_call_options
from .pretrained import registry

Model = AdaINModel | MultiLevelModel
ModelSource = Model | str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]]
_CACHE: dict[tuple[str, str, str], Model] = {}


def list_models() -> list[str]:
    """Names of the registered model families and pretrained models (see ``adain-nst models``), sorted."""
    return sorted([*registry.FAMILIES, *registry.list_models()])


def load_model(
    source: ModelSource | None = None, *, device: str | torch.device | None = None, **hub_kwargs: Any
) -> Model:
    """A model from any source, in eval mode.

    Args:
        source: ``None`` (the default family, ``"cd16x"``: bundled, multi-level), a family name
            (a :class:`MultiLevelModel`), a registered model name (``"cd16x-adain"``, an
            :class:`AdaINModel`), a Hub repo id (``"org/name"``, ``"org/name@rev"``, or with a
            ``"hf-hub:"`` prefix), a ``save_pretrained`` folder, a pair ``(encoder_file,
            decoder_file)`` of checkpoints in any supported layout, or a model object (returned,
            moved to ``device``).
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``; an
            unavailable one is refused before anything loads.
        hub_kwargs: ``revision``, ``cache_dir``, ``local_files_only``, ``force_download``, ``token``.
    """
    dev = resolve_device(device)
    if isinstance(source, (AdaINModel, MultiLevelModel)):
        return source.to(dev) if device is not None else source
    if isinstance(source, tuple):
        if len(source) != 2 or hub_kwargs:
            raise InputError("a checkpoint pair is (encoder_file, decoder_file), with no Hub options")
        return model_from_files(*source, device=dev)
    name = registry.DEFAULT_FAMILY if source is None else source
    if isinstance(name, str) and name in registry.FAMILIES:
        if hub_kwargs:
            raise InputError(f"{name} is bundled with the package: Hub options {sorted(hub_kwargs)} do not apply")
        return MultiLevelModel.from_pretrained(name, device=dev)
    if isinstance(name, str) and name.startswith("hf-hub:"):
        name = name[len("hf-hub:") :]
    return AdaINModel.from_pretrained(name, device=dev, **hub_kwargs)


def get_model(
    source: ModelSource | None = None, *, device: str | torch.device | None = None, **hub_kwargs: Any
) -> AdaINModel:
    """:func:`load_model`, once per process: later calls with the same arguments return the same instance.

    See :func:`clear_cache`.
    """
    if isinstance(source, (AdaINModel, MultiLevelModel)):
        return load_model(source, device=device)
    dev = str(resolve_device(device))
    key = (repr(source), dev, repr(sorted(hub_kwargs.items())))
    if key not in _CACHE:
        _CACHE[key] = load_model(source, device=dev, **hub_kwargs)
    return _CACHE[key]


def clear_cache() -> None:
    """Forget every model :func:`get_model` loaded (frees their memory)."""
    _CACHE.clear()


def model_from_files(
    encoder: str | os.PathLike[str],
    decoder: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    check_pairing: bool = True,
) -> AdaINModel:
    """Model from an encoder and a decoder file in any supported layout.

    Layouts: pytorch-AdaIN ``vgg_normalised.pth`` / ``decoder.pth``, cd16x ``e4.pth`` /
    ``d4.pth``, our ``.safetensors``, a training ``checkpoint.pt`` for the decoder, or a
    ``save_pretrained`` folder for either (its encoder or decoder is used).

    ``check_pairing``: files that do not belong together (e.g. the cd16x ``e5.pth`` with the
    relu4_1 ``d4.pth``) raise :class:`~adain_nst.errors.ConfigError` naming the ones that do
    (see :mod:`adain_nst.pretrained.pairing`); ``False`` loads them anyway.
    """
    dev = resolve_device(device) if device is not None else None  # an unavailable device: before any read
    enc_src = _part_file(encoder, "encoder")
    dec_src = _part_file(decoder, "decoder")
    model = AdaINModel.from_checkpoints(enc_src, dec_src, check_pairing=check_pairing)
    return model.to(dev) if dev is not None else model


def _part_file(path: str | os.PathLike[str], part: str) -> Path:
    """``path``, or the ``{part}.safetensors`` inside it when it is a model folder."""
    p = Path(path)
    return p / f"{part}.safetensors" if p.is_dir() else p


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike | None],
    alpha: float = 1.0,
    *,
    transform: str | None = None,
    levels: Sequence[str] | None = None,
    masks: Sequence[MaskLike] | None = None,
    level_alpha: Mapping[str, float] | None = None,
    model: ModelSource | None = None,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | Sequence[bool | str | None] | None = None,
    region_alpha: Sequence[float] | None = None,
    max_memory: int | str | None = None,
    progress: bool | None = None,
) -> Any:
    """Stylise ``content`` with ``style``.

    With no options: the bundled cd16x family and its default look (multi-level, see
    ``docs/multilevel.md``), offline.

    Args:
        content: path, PIL image, numpy array (HWC) or tensor (CHW / BCHW) in [0, 1].
        style: one style image of any of those kinds, or a list: interpolated without
            ``masks``, one style per mask with them (``None``: that region keeps the content).
        alpha: degree of stylisation in [0, 1].
        transform: ``"adain"``, ``"wct"`` or ``"efdm"`` (default: the model's).
        levels: layer names coarse to fine, e.g. ``("relu5_1", "relu4_1")``; ``("relu4_1",)``
            with ``"adain"`` is the AdaIN paper's single pass (default: the model's).
        masks: spatial control (``docs/masks.md``): one mask per style, each a path, PIL image,
            numpy array or tensor, binary or soft in [0, 1], any size with the content's aspect
            ratio. Each region's content statistics are measured inside its mask, transformed
            with its style and blended by the masks at every level. Pixels no mask covers keep
            the content; overlapping masks are normalised to sum 1. Bad masks raise
            :class:`~adain_nst.errors.MaskError` before the model loads. Label maps:
            :func:`adain_nst.masks.masks_from_labels`.
        level_alpha: per-level alpha, e.g. ``{"relu1_1": 0.5}``.
        model: anything :func:`load_model` accepts; default: the default family, loaded once
            per process.
        dtype: ``None`` (float32 on every machine), ``"auto"`` (bfloat16 where native),
            or an explicit ``torch.float32 | torch.bfloat16 | torch.float16`` (CUDA).
        device: where to run (``"cpu"``, ``"cuda"``, ``"auto"``...); default CPU, or the
            model's device for a model object.
        content_size, style_size: resize so the shorter side has this many px first.
        style_weights: interpolation weights, one per style (normalised to sum 1).
        preserve_color: ``None``, ``"coral"`` or ``"luminance"``; with ``masks`` also a list,
            one mode per mask (``"coral"`` recolours that style to its region's colours).
        region_alpha: with ``masks``, one strength in [0, 1] per mask (it multiplies ``alpha``
            and ``level_alpha`` inside that region).
        max_memory: a memory budget, bytes or a string (``"2GB"`` = 2e9, ``"2GiB"`` = 2**31): host
            RAM on CPU, device memory on CUDA. Above the estimate of a whole-image call the
            content is stylised in tiles with the whole image's statistics (``docs/highres.md``);
            a budget below the smallest tiles raises :class:`~adain_nst.errors.MemoryBudgetError`
            with the minimum. ``None``: tiles only when the estimate exceeds the available memory
            (a ``UserWarning`` says so).
        progress: a progress bar over the tiles of a tiled call (``None``: when stderr is a terminal).

    Returns:
        The same kind as ``content`` (a path gives a PIL image), values in [0, 1].
    """
    # Everything that needs no model is checked before one loads (types strict).
    check_call_options(
        alpha,
        level_alpha=level_alpha,
        style_weights=style_weights,
        n_styles=len(style) if isinstance(style, (list, tuple)) else 1,
        preserve_color=preserve_color,
        content_size=content_size,
        style_size=style_size,
        masks=masks,
        region_alpha=region_alpha,
        max_memory=max_memory,
        progress=progress,
    )
    if masks is not None:  # read and check every mask before a model loads
        masks = load_masks(masks, len(style) if isinstance(style, (list, tuple)) else 1)
    if not isinstance(model, (AdaINModel, MultiLevelModel)):
        resolve_dtype(dtype, resolve_device(device))
    net = get_model(model, device=device)
    return net.stylize(
        content,
        style,
        alpha,
        transform=transform,
        levels=levels,
        level_alpha=level_alpha,
        style_weights=style_weights,
        preserve_color=preserve_color,
        content_size=content_size,
        style_size=style_size,
        dtype=dtype,
        masks=masks,
        region_alpha=region_alpha,
        max_memory=max_memory,
        progress=progress,
    )


__all__ = ["Model", "clear_cache", "get_model", "list_models", "load_model", "model_from_files", "stylize"]

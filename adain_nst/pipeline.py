"""The one stylise pipeline: image in -> tensors -> resize -> pad -> network -> crop -> colour -> image out.

Every entry point goes through :func:`stylize`: :func:`adain_nst.stylize`,
:meth:`adain_nst.AdaINModel.stylize`, the CLI, training evaluation and the benchmarks. The
network runs either as the fast engine (``backend="engine"``, the default) or as the
differentiable reference modules (``backend="reference"``); in float32 the two agree to ~1e-5.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_alpha, check_style_weights
from .color import check_color_mode, coral, transfer_luminance
from .errors import InputError
from .image import ImageLike, from_tensor, resize_shorter, to_tensor

if TYPE_CHECKING:  # annotations only: the model calls this module, never the other way
    from .model import AdaINModel

BACKENDS = ("engine", "reference")


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, int, int]:
    """Pad ``(B, C, H, W)`` at the bottom/right to multiples of ``multiple``; returns it and the old H, W.

    Reflection where the image is big enough, replication otherwise, so the network sees
    plausible content and the crop afterwards gives back exactly H x W.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure (torch raises several kinds)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _style_list(style: Any) -> list[Any]:
    return list(style) if isinstance(style, (list, tuple)) else [style]


def check_style_feats(feats: Sequence[Tensor], channels: int) -> list[Tensor]:
    """``feats`` as a list if each is a ``(B, channels, h, w)`` tensor (from ``encode_style``)."""
    feats = list(feats)
    if not feats:
        raise InputError("style_feats is empty: pass at least one encode_style() result")
    for i, f in enumerate(feats):
        if not isinstance(f, Tensor) or f.dim() != 4 or f.shape[1] != channels:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise InputError(
                f"style_feats[{i}] must be a (B, {channels}, h, w) tensor from encode_style(), got {shape}"
            )
    return feats


@torch.inference_mode()
def stylize(
    model: AdaINModel,
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike] | None = None,
    alpha: float = 1.0,
    *,
    style_feats: Sequence[Tensor] | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    dtype: torch.dtype | str | None = None,
    backend: str = "engine",
) -> Any:
    """Stylise ``content`` with ``model``; see :meth:`adain_nst.AdaINModel.stylize` for the arguments.

    Returns the same kind as ``content`` (a path gives a PIL image), at the (resized)
    content's exact size, values in [0, 1].
    """
    alpha = check_alpha(alpha)
    mode = check_color_mode(preserve_color)
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    styles_in: list[Any] = []
    if style_feats is not None:
        if style is not None:
            raise InputError("pass style images or style_feats, not both")
        if mode == "coral":
            raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
        style_feats = check_style_feats(style_feats, model.decoder.in_channels)
        n_styles = len(style_feats)
    else:
        if style is None:
            raise InputError("pass style images or precomputed style_feats")
        styles_in = _style_list(style)
        if not styles_in:
            raise InputError("at least one style image is needed")
        n_styles = len(styles_in)
    weights = check_style_weights(style_weights, n_styles)  # fail before any heavy work
    device = model.device
    x, kind = to_tensor(content, "content")
    x = resize_shorter(x.to(device), content_size)
    styles = [resize_shorter(to_tensor(s, f"style {i}")[0].to(device), style_size) for i, s in enumerate(styles_in)]
    engine = model.inference_engine(dtype=dtype) if backend == "engine" else None
    try:
        pixels = max(t.shape[-2] * t.shape[-1] for t in [x, *styles])
        scope = engine.memory_scope(pixels) if engine is not None else contextlib.nullcontext()
        with scope:  # one scope for the style and content passes
            if style_feats is None:
                if mode == "coral":
                    styles = [coral(s, x) for s in styles]
                style_feats = [engine.encode(s) if engine is not None else model.encode(s) for s in styles]
            padded, h, w = pad_to_multiple(x, model.stride)
            if engine is not None:
                out = engine.stylize(padded, style_feats, weights, alpha)
            else:
                out = model.forward(padded, alpha=alpha, style_weights=weights, style_feats=style_feats)
            out = out[..., :h, :w]
            if mode == "luminance":
                out = transfer_luminance(out, x)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        h, w = x.shape[-2:]
        raise InputError(
            f"not enough {device.type.upper()} memory to stylise a {w}x{h} image: "
            "pass content_size=... (e.g. 1024) or use a smaller image"
        ) from None
    return from_tensor(out, kind)


__all__ = ["BACKENDS", "check_style_feats", "is_out_of_memory", "pad_to_multiple", "stylize"]

"""The one stylise pipeline: image in -> tensors -> resize -> pad -> network -> crop -> colour -> image out.

Every entry point goes through :func:`stylize`: :func:`adain_nst.stylize`,
:meth:`adain_nst.AdaINModel.stylize`, :meth:`adain_nst.MultiLevelModel.stylize`, the CLI,
training evaluation and the benchmarks. The network part is a :class:`Cascade` (one
encoder/decoder pair, or several coarse to fine) and runs either on the fast engine
(``backend="engine"``, the default) or on the differentiable reference modules
(``backend="reference"``); in float32 the two agree to ~1e-5.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ._checks import check_alpha, check_image_batch, check_size, check_style_weights
from .architecture import conv_costs, decoder_ops, encoder_ops, min_input_side, output_size, runs_at
from .color import check_color_mode, coral, transfer_luminance
from .engine.executor import Engine
from .engine.runtime import available_memory
from .errors import InputError
from .image import ImageLike, from_tensor, image_size, shorter_side_dims, to_tensor
from .nn.transforms import transform_mix

BACKENDS = ("engine", "reference")

MEMORY_FACTOR = 4.0
"""Peak memory of a stylisation over the values of its widest conv (input + output channels at
that conv's resolution). Measured on CPU, float32, cd16x family: 3.1x at 1.5 MP, 3.8x at 6 MP
(the engine's padding copies, ReLU and tap outputs, allocator slack); 4 errs on the safe side."""


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


def check_style_feats(feats: Sequence[Tensor], channels: int, level: str = "") -> list[Tensor]:
    """``feats`` as a list if each is a ``(B, channels, h, w)`` tensor (from ``encode_style``)."""
    feats = list(feats)
    where = f" at {level}" if level else ""
    if not feats:
        raise InputError(f"style_feats{where} is empty: pass at least one encode_style() result")
    for i, f in enumerate(feats):
        if not isinstance(f, Tensor) or f.dim() != 4 or f.shape[1] != channels:
            shape = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise InputError(
                f"style_feats{where}[{i}] must be a (B, {channels}, h, w) tensor from encode_style(), got {shape}"
            )
    return feats


class Pair(Protocol):
    """One encoder/decoder pair at one level (an :class:`~adain_nst.AdaINModel`)."""

    level: str
    stride: int
    eps: float
    encoder: Any
    decoder: Any

    def encode(self, image: Tensor) -> Tensor: ...

    def inference_engine(self, *, dtype: torch.dtype | str | None = None) -> Engine: ...


@dataclass(frozen=True)
class Cascade:
    """What one stylisation runs: a transform and the encoder/decoder pairs, coarse to fine.

    One pair is the single-level path (the paper's, for AdaIN); several are the multi-level
    pipeline of Universal Style Transfer (Li et al. 2017): encode at the deepest level,
    transform, decode, re-encode the result at the next level, ..., down to the finest.
    """

    transform: str
    pairs: tuple[Pair, ...]

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(p.level for p in self.pairs)

    def check_alphas(self, alpha: float, level_alpha: Mapping[str, float] | None) -> dict[str, float]:
        """The alpha of every level: ``level_alpha``'s entry, else ``alpha``."""
        per_level = dict(level_alpha or {})
        unknown = sorted(set(per_level) - set(self.levels))
        if unknown:
            raise InputError(f"level_alpha names {unknown}, which this call does not run (levels {list(self.levels)})")
        return {lvl: check_alpha(per_level.get(lvl, alpha), f"level_alpha[{lvl!r}]") for lvl in self.levels}


StyleFeatures = dict[str, list[Tensor]]
"""Encoded styles by level: ``{"relu4_1": [one (B, C, h, w) map per style], ...}``."""


def encode_styles(cascade: Cascade, styles: Sequence[Tensor], *, dtype: Any, backend: str) -> StyleFeatures:
    """Every style encoded at every level of ``cascade`` (each with that level's encoder), once."""
    out: StyleFeatures = {}
    for pair in cascade.pairs:
        if backend == "engine":
            engine = pair.inference_engine(dtype=dtype)
            out[pair.level] = [engine.encode(s) for s in styles]
        else:
            out[pair.level] = [pair.encode(s) for s in styles]
    return out


def as_style_features(cascade: Cascade, feats: Mapping[str, Sequence[Tensor]] | Sequence[Tensor]) -> StyleFeatures:
    """Validate precomputed features: a ``{level: [maps]}`` dict, or a list for a single level."""
    if not isinstance(feats, Mapping):
        if len(cascade.pairs) != 1:
            raise InputError(
                f"style_feats for a multi-level call must be a dict by level ({list(cascade.levels)}), "
                "as encode_style(levels=...) returns"
            )
        feats = {cascade.levels[0]: feats}
    missing = [lvl for lvl in cascade.levels if lvl not in feats]
    if missing:
        raise InputError(f"style_feats has no features at {missing}; encode the style at the levels of this call")
    out = {p.level: check_style_feats(feats[p.level], p.decoder.in_channels, p.level) for p in cascade.pairs}
    counts = {len(v) for v in out.values()}
    if len(counts) != 1:
        raise InputError("style_feats holds a different number of styles at different levels")
    return out


def run_cascade(
    cascade: Cascade,
    content: Tensor,
    style_feats: StyleFeatures,
    weights: Sequence[float],
    alphas: Mapping[str, float],
    *,
    dtype: Any,
    backend: str,
) -> Tensor:
    """The network part of a stylisation: ``content`` ``(B, 3, H, W)`` in [0, 1] in, the last decoder's
    float32 output at ``H x W`` out (unclamped).

    Each level pads the image to its stride, encodes, transforms, decodes and crops back, so the
    statistics only ever see the image; between levels it is clamped to [0, 1]. A multi-level call
    is therefore exactly the composition of single-level calls.
    """
    x = content
    for i, pair in enumerate(cascade.pairs):
        if i:
            x = x.clamp(0.0, 1.0)
        padded, h, w = pad_to_multiple(x, pair.stride)
        feats, alpha = style_feats[pair.level], alphas[pair.level]
        if backend == "reference":
            target = transform_mix(cascade.transform, pair.encode(padded), feats, weights, alpha, pair.eps)
            x = pair.decoder(target)[..., :h, :w]
            continue
        engine = pair.inference_engine(dtype=dtype)
        if cascade.transform == "adain":
            x = engine.stylize(padded, feats, weights, alpha)[..., :h, :w]  # the fused single-pass form
        else:
            f = engine.encode(padded).float().contiguous()
            target = transform_mix(cascade.transform, f, [s.float() for s in feats], weights, alpha, pair.eps)
            x = engine.decode(target)[..., :h, :w]
    return x


# -- checks that need no pixels -----------------------------------------------------------------------
def check_call_options(
    alpha: float = 1.0,
    *,
    level_alpha: Mapping[str, float] | None = None,
    style_weights: Sequence[float] | None = None,
    n_styles: int | None = None,
    preserve_color: bool | str | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    backend: str = "engine",
) -> None:
    """Validate the options of a stylisation that need neither a model nor pixels (types strict).

    :func:`adain_nst.stylize` calls it before it loads a model; :func:`stylize` before it reads an image.
    """
    check_alpha(alpha)
    for name, a in (level_alpha or {}).items():
        check_alpha(a, f"level_alpha[{name!r}]")
    if style_weights is not None:
        check_style_weights(style_weights, len(list(style_weights)) if n_styles is None else n_styles)
    check_color_mode(preserve_color)
    check_size(content_size, "content_size")
    check_size(style_size, "style_size")
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")


def min_side(pair: Pair) -> int:
    """Smallest image side (px) ``pair`` can stylise: the content padded to its stride, the style as is.

    Computed from the layer plan (:func:`adain_nst.architecture.min_input_side`): ``stride + 1``
    for the normalised VGG, i.e. 9 px at relu4_1 and 17 px at relu5_1.
    """
    ops = encoder_ops(pair.encoder.config, upto=pair.level)
    return max(min_input_side(ops, multiple=pair.stride), min_input_side(ops))


def check_min_side(
    cascade: Cascade, height: int, width: int, what: str, option: str | None = None, *, padded: bool = True
) -> None:
    """Refuse an image too small for a level of ``cascade``, stating the minimum side (:func:`min_side`).

    ``padded``: the image is padded to each level's stride first (contents; styles are not).
    """
    for pair in cascade.pairs:
        ops = encoder_ops(pair.encoder.config, upto=pair.level)
        h, w = (height + (-height) % pair.stride, width + (-width) % pair.stride) if padded else (height, width)
        if not runs_at(ops, h, w):
            need = min_side(pair)
            fix = f"pass {option}={need} or more, or use a bigger image" if option else "use a bigger image"
            raise InputError(
                f"{what} is {width}x{height} px; this model needs at least {need} px per side "
                f"(its {pair.level} level): {fix}"
            )


def estimate_memory(cascade: Cascade, height: int, width: int, *, bytes_per_value: int = 4, batch: int = 1) -> int:
    """Estimated peak bytes of stylising a ``height x width`` image with ``cascade``.

    From the layer plan: the largest conv working set (input + output channels at that conv's
    resolution, encoder and decoder, every level) times :data:`MEMORY_FACTOR`.
    """
    peak = 0
    for pair in cascade.pairs:
        ph, pw = height + (-height) % pair.stride, width + (-width) % pair.stride
        enc_ops = encoder_ops(pair.encoder.config, upto=pair.level)
        fh, fw = output_size(enc_ops, ph, pw)
        costs = conv_costs(enc_ops, ph, pw, batch=batch) + conv_costs(
            decoder_ops(pair.decoder.config), fh, fw, batch=batch
        )
        peak = max(peak, *((c.in_channels + c.out_channels) * c.height * c.width * c.batch for c in costs))
    return int(MEMORY_FACTOR * peak * bytes_per_value)


def warn_if_memory_short(
    cascade: Cascade, height: int, width: int, device: torch.device, *, bytes_per_value: int = 4, what: str = "content"
) -> int | None:
    """Warn (``UserWarning``) when :func:`estimate_memory` exceeds what ``device`` has available.

    Returns the estimate in bytes when it warned, else ``None``.
    """
    need = estimate_memory(cascade, height, width, bytes_per_value=bytes_per_value)
    free = available_memory(device)
    if free is None or need <= free:
        return None
    side = max(16, int(min(height, width) * math.sqrt(free / need)) // 64 * 64)
    warnings.warn(
        f"stylising the {width}x{height} px {what} needs about {_bytes(need)} of {device.type.upper()} memory "
        f"but about {_bytes(free)} is available: it may fail or swap; pass content_size={side} "
        "(or --content-size) or use a smaller image",
        UserWarning,
        stacklevel=3,
    )
    return need


def _bytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 10**8 else f"{n / 1e6:.1f} MB"


def planned_size(image: Any, size: int | None) -> tuple[int, int] | None:
    """``(height, width)`` ``image`` will have after :func:`~adain_nst.image.to_tensor` with ``size``,
    read without decoding (a file's header); ``None`` when the input is malformed (to_tensor says why)."""
    if isinstance(image, (str, os.PathLike)):
        w, h = image_size(image)
    elif isinstance(image, Image.Image):
        w, h = image.size
    elif isinstance(image, np.ndarray) and image.ndim in (2, 3):
        h, w = image.shape[:2]
    elif isinstance(image, Tensor) and image.dim() in (3, 4):
        h, w = image.shape[-2:]
    else:
        return None
    if h < 1 or w < 1:
        return None
    return shorter_side_dims(h, w, size) if size is not None else (int(h), int(w))


def reference_forward(
    cascade: Cascade,
    content: Tensor,
    style: Tensor | Sequence[Tensor] | None,
    alphas: Mapping[str, float],
    *,
    style_weights: Sequence[float] | None,
    preserve_color: bool | str | None,
    style_feats: Mapping[str, Sequence[Tensor]] | Sequence[Tensor] | None,
) -> Tensor:
    """The differentiable ``forward`` of a model: tensors in, the raw last decoder output out.

    ``content`` ``(B, 3, H, W)`` in [0, 1]; ``style`` a tensor or list of them, or ``style_feats``
    (a ``{level: [maps]}`` dict, or a list for one level); runs the reference modules.
    """
    mode = check_color_mode(preserve_color)
    check_image_batch(content, "content")
    check_min_side(cascade, *content.shape[-2:], "content")
    if style_feats is None:
        if style is None:
            raise InputError("pass style images or precomputed style_feats")
        styles = [style] if isinstance(style, Tensor) else list(style)
        for i, s in enumerate(styles):
            shape = check_image_batch(s, f"style {i}").shape
            check_min_side(cascade, *shape[-2:], f"style {i}", padded=False)
        if mode == "coral":
            styles = [coral(s, content) for s in styles]
        feats = encode_styles(cascade, styles, dtype=None, backend="reference")
    elif mode == "coral":
        raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
    else:
        feats = as_style_features(cascade, style_feats)
    weights = check_style_weights(style_weights, len(next(iter(feats.values()))))
    out = run_cascade(cascade, content, feats, weights, alphas, dtype=None, backend="reference")
    return transfer_luminance(out, content) if mode == "luminance" else out


@torch.inference_mode()
def stylize(
    model: Any,
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike] | None = None,
    alpha: float = 1.0,
    *,
    transform: str | None = None,
    levels: Sequence[str] | None = None,
    level_alpha: Mapping[str, float] | None = None,
    style_feats: Mapping[str, Sequence[Tensor]] | Sequence[Tensor] | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    dtype: torch.dtype | str | None = None,
    backend: str = "engine",
) -> Any:
    """Stylise ``content`` with ``model`` (anything with ``cascade(transform, levels)`` and ``device``).

    See :meth:`adain_nst.AdaINModel.stylize` and :meth:`adain_nst.MultiLevelModel.stylize` for
    the arguments. Returns the same kind as ``content`` (a path gives a PIL image), at the
    (resized) content's exact size, values in [0, 1].
    """
    check_call_options(
        alpha,
        level_alpha=level_alpha,
        preserve_color=preserve_color,
        content_size=content_size,
        style_size=style_size,
        backend=backend,
    )
    alpha = check_alpha(alpha)
    mode = check_color_mode(preserve_color)
    cascade: Cascade = model.cascade(transform=transform, levels=levels)
    alphas = cascade.check_alphas(alpha, level_alpha)
    styles_in: list[Any] = []
    if style_feats is not None:
        if style is not None:
            raise InputError("pass style images or style_feats, not both")
        if mode == "coral":
            raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
        style_feats = as_style_features(cascade, style_feats)
        n_styles = len(next(iter(style_feats.values())))
    else:
        if style is None:
            raise InputError("pass style images or precomputed style_feats")
        styles_in = _style_list(style)
        if not styles_in:
            raise InputError("at least one style image is needed")
        n_styles = len(styles_in)
    weights = check_style_weights(style_weights, n_styles)  # fail before any heavy work
    device = model.device
    # Sizes from the headers, before any decoding: too small is refused, too big is announced.
    planned = [("content", "content_size", planned_size(content, content_size))]
    planned += [(f"style {i}", "style_size", planned_size(s, style_size)) for i, s in enumerate(styles_in)]
    for what, option, dims in planned:
        if dims is not None:
            check_min_side(cascade, *dims, what, option, padded=what == "content")
    biggest = max((d for _, _, d in planned if d is not None), key=lambda d: d[0] * d[1], default=None)
    if biggest is not None:
        half = isinstance(dtype, torch.dtype) and dtype.itemsize == 2
        warn_if_memory_short(cascade, *biggest, device, bytes_per_value=2 if half else 4)
    x, kind = to_tensor(content, "content", size=content_size)
    x = x.to(device)
    styles = [to_tensor(s, f"style {i}", size=style_size)[0].to(device) for i, s in enumerate(styles_in)]
    try:
        pixels = max(t.shape[-2] * t.shape[-1] for t in [x, *styles])
        first = cascade.pairs[-1].inference_engine(dtype=dtype) if backend == "engine" else None
        scope = first.memory_scope(pixels) if first is not None else contextlib.nullcontext()
        with scope:  # one scope for the style and content passes
            if style_feats is None:
                if mode == "coral":
                    styles = [coral(s, x) for s in styles]
                style_feats = encode_styles(cascade, styles, dtype=dtype, backend=backend)
            out = run_cascade(cascade, x, style_feats, weights, alphas, dtype=dtype, backend=backend)
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


__all__ = [
    "BACKENDS",
    "MEMORY_FACTOR",
    "Cascade",
    "StyleFeatures",
    "as_style_features",
    "check_call_options",
    "check_min_side",
    "check_style_feats",
    "encode_styles",
    "estimate_memory",
    "is_out_of_memory",
    "min_side",
    "pad_to_multiple",
    "planned_size",
    "reference_forward",
    "run_cascade",
    "stylize",
    "warn_if_memory_short",
]

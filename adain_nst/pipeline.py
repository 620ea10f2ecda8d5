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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_alpha, check_style_weights
from .color import check_color_mode, coral, transfer_luminance
from .engine.executor import Engine
from .errors import InputError
from .image import ImageLike, from_tensor, resize_shorter, to_tensor
from .nn.transforms import transform_mix

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
    alpha = check_alpha(alpha)
    mode = check_color_mode(preserve_color)
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
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
    x, kind = to_tensor(content, "content")
    x = resize_shorter(x.to(device), content_size)
    styles = [resize_shorter(to_tensor(s, f"style {i}")[0].to(device), style_size) for i, s in enumerate(styles_in)]
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
    "Cascade",
    "StyleFeatures",
    "as_style_features",
    "check_style_feats",
    "encode_styles",
    "is_out_of_memory",
    "pad_to_multiple",
    "run_cascade",
    "stylize",
]

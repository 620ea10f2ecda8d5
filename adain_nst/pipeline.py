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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from ._checks import check_alpha, check_image_batch, check_size, check_style_weights
from .architecture import conv_costs, decoder_ops, encoder_ops, min_input_side, output_size, runs_at
from .color import check_color_mode, colour_moments, coral, coral_from_moments, transfer_luminance
from .engine.executor import Engine
from .engine.runtime import available_memory
from .errors import InputError
from .image import ImageKind, ImageLike, from_tensor, image_size, shorter_side_dims, to_tensor, to_uint8_rgb
from .masks import fit_masks, load_masks, mask_list, resize_masks
from .nn.transforms import region_mix, transform_mix
from .tiled import Finish, ImageStore, run_cascade_tiled
from .tiling import Box, LevelPlan, TilePlan, parse_memory, plan_tiles

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


@dataclass(frozen=True)
class Regions:
    """Spatial control of one call: the masks and, per region, its style, strength and colour mode.

    ``masks``: ``(1, K, H, W)`` float32 at the content's size, ``sum_k m_k <= 1``
    (:func:`adain_nst.masks.fit_masks`); ``styles``: per region the index of its encoded style,
    or ``None`` (keeps the content); ``alphas``: per-region factors in [0, 1] of each level's
    alpha; ``colors``: per-region colour modes (``None``, ``"coral"``, ``"luminance"``).
    """

    masks: Tensor
    styles: tuple[int | None, ...]
    alphas: tuple[float, ...]
    colors: tuple[str | None, ...]

    def whole(self) -> int | None:
        """The region whose mask covers every pixel fully (all others are then empty), if any."""
        full = (self.masks == 1.0).flatten(2).all(-1).any(0)  # (K,)
        hits = full.nonzero().flatten().tolist()
        return int(hits[0]) if hits else None

    def luminance_weight(self) -> Tensor | None:
        """``(1, 1, H, W)``: how much of each pixel keeps the content's chrominance; ``None`` if no region does."""
        chosen = [k for k, mode in enumerate(self.colors) if mode == "luminance"]
        return self.masks[:, chosen].sum(1, keepdim=True) if chosen else None


def check_region_alpha(region_alpha: Sequence[float] | None, n_regions: int) -> list[float]:
    """One strength in [0, 1] per region (default all 1); strict types, as ``alpha``."""
    if region_alpha is None:
        return [1.0] * n_regions
    if isinstance(region_alpha, (str, bytes)) or not hasattr(region_alpha, "__iter__"):
        raise InputError(f"region_alpha must be a list with one number in [0, 1] per mask, got {region_alpha!r}")
    items = list(region_alpha)
    if len(items) != n_regions:
        raise InputError(f"region_alpha has {len(items)} entries but {n_regions} mask(s) were given")
    return [check_alpha(a, f"region_alpha[{i}]") for i, a in enumerate(items)]


def region_color_modes(preserve_color: Any, n_regions: int) -> list[str | None]:
    """``preserve_color`` per region: one mode for all, or a list with one mode per mask."""
    if isinstance(preserve_color, (list, tuple)):
        if len(preserve_color) != n_regions:
            raise InputError(f"preserve_color has {len(preserve_color)} entries but {n_regions} mask(s) were given")
        return [check_color_mode(m) for m in preserve_color]
    return [check_color_mode(preserve_color)] * n_regions


def check_region_options(
    masks: Any,
    n_styles: int,
    *,
    region_alpha: Sequence[float] | None = None,
    preserve_color: Any = None,
    style_weights: Sequence[float] | None = None,
) -> None:
    """Validate the spatial-control options without reading any mask (types, counts, combinations)."""
    if masks is None:
        if region_alpha is not None:
            raise InputError("region_alpha needs masks (one strength per mask); use alpha without masks")
        if isinstance(preserve_color, (list, tuple)):
            raise InputError("a list of preserve_color modes needs masks (one mode per mask)")
        return
    n_masks = len(mask_list(masks))
    if n_masks != n_styles:
        load_masks(masks, n_styles)  # raises the MaskError that explains the count
    if style_weights is not None:
        raise InputError(
            "style_weights interpolates styles over the whole image; with masks each style has its own region "
            "(use region_alpha for per-region strength)"
        )
    check_region_alpha(region_alpha, n_masks)
    region_color_modes(preserve_color, n_masks)


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


def encode_style_images(
    cascade: Cascade,
    images: Sequence[ImageLike],
    *,
    size: int | None,
    device: torch.device,
    dtype: Any,
    names: Sequence[str] | None = None,
) -> StyleFeatures:
    """Style images read as :func:`stylize` reads them (``size``: shorter side, px), checked and
    encoded at every level of ``cascade`` with the engine: the features a call would compute.

    For callers that reuse one style's features across many contents (folder and dataset jobs).
    ``names`` label the images in error messages (default ``"style 0"``, ...).
    """
    tensors = []
    for i, image in enumerate(images):
        what = names[i] if names is not None else f"style {i}"
        x = to_tensor(image, what, size=size)[0]
        check_min_side(cascade, *x.shape[-2:], what, "style_size", padded=False)
        tensors.append(x.to(device))
    with torch.inference_mode():
        return encode_styles(cascade, tensors, dtype=dtype, backend="engine")


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
    regions: Regions | None = None,
    assignment: Sequence[int] | None = None,
) -> Tensor:
    """The network part of a stylisation: ``content`` ``(B, 3, H, W)`` in [0, 1] in, the last decoder's
    float32 output at ``H x W`` out (unclamped).

    ``assignment`` gives each batch element its own style: element ``b`` is stylised with style
    ``assignment[b]`` alone (``weights`` is then unused); without it every element gets the
    ``weights`` blend of all the styles.

    Each level pads the image to its stride, encodes, transforms, decodes and crops back, so the
    statistics only ever see the image; between levels it is clamped to [0, 1]. A multi-level call
    is therefore exactly the composition of single-level calls.

    With ``regions`` (spatial control) every level pads the masks like the image, averages them
    down to the feature map's size and runs :func:`~adain_nst.nn.transforms.region_mix`: each
    region's content statistics, its style, its alpha (the level's times the region's), blended
    by the masks; ``weights`` is then unused.
    """
    x = content
    for i, pair in enumerate(cascade.pairs):
        if i:
            x = x.clamp(0.0, 1.0)
        padded, h, w = pad_to_multiple(x, pair.stride)
        feats, alpha = style_feats[pair.level], alphas[pair.level]
        if regions is not None:
            x = _run_regions(cascade.transform, pair, padded, feats, alpha, regions, dtype=dtype, backend=backend)
            x = x[..., :h, :w]
            continue
        if backend == "reference":
            target = _mix(cascade.transform, pair.encode(padded), feats, weights, alpha, pair.eps, assignment)
            x = pair.decoder(target)[..., :h, :w]
            continue
        engine = pair.inference_engine(dtype=dtype)
        if cascade.transform == "adain" and assignment is None:
            x = engine.stylize(padded, feats, weights, alpha)[..., :h, :w]  # the fused single-pass form
        elif cascade.transform == "adain":
            # Per-element styles: each element through the fused form with its own style (the
            # engine runs a CPU batch one image at a time at these sizes anyway).
            _check_assignment(assignment, padded.shape[0])
            parts = [engine.stylize(padded[b : b + 1], [feats[j]], [1.0], alpha) for b, j in enumerate(assignment)]
            x = torch.cat(parts)[..., :h, :w]
        else:
            f = engine.encode(padded).float().contiguous()
            target = _mix(cascade.transform, f, [s.float() for s in feats], weights, alpha, pair.eps, assignment)
            x = engine.decode(target)[..., :h, :w]
    return x


def _check_assignment(assignment: Sequence[int], batch: int) -> None:
    if len(assignment) != batch:
        raise InputError(f"assignment names {len(assignment)} styles for a batch of {batch}")


def _mix(
    transform: str,
    f: Tensor,
    feats: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float,
    eps: float,
    assignment: Sequence[int] | None,
) -> Tensor:
    """:func:`transform_mix` of the batch, or of each element with its assigned style alone."""
    if assignment is None:
        return transform_mix(transform, f, feats, weights, alpha, eps)
    _check_assignment(assignment, f.shape[0])
    parts = [transform_mix(transform, f[b : b + 1], [feats[j]], [1.0], alpha, eps) for b, j in enumerate(assignment)]
    return torch.cat(parts)


def _run_regions(
    transform: str,
    pair: Pair,
    padded: Tensor,
    feats: Sequence[Tensor],
    alpha: float,
    regions: Regions,
    *,
    dtype: Any,
    backend: str,
) -> Tensor:
    """One level of a masked cascade: encode ``padded``, :func:`region_mix` by the masks, decode."""
    masks, _, _ = pad_to_multiple(regions.masks.to(padded.device), pair.stride)
    region_feats = [None if j is None else feats[j] for j in regions.styles]
    alphas = [alpha * a for a in regions.alphas]
    if backend == "reference":
        f = pair.encode(padded)
        return pair.decoder(region_mix(transform, f, region_feats, resize_masks(masks, f.shape[-2:]), alphas, pair.eps))
    engine = pair.inference_engine(dtype=dtype)
    f = engine.encode(padded).float().contiguous()
    region_feats = [None if s is None else s.float() for s in region_feats]
    target = region_mix(transform, f, region_feats, resize_masks(masks, f.shape[-2:]), alphas, pair.eps)
    return engine.decode(target)


def region_coral(style: Tensor, content: Tensor, mask: Tensor) -> Tensor:
    """``style`` recoloured (CORAL) to the colours of ``content`` inside ``mask`` ``(H, W)``.

    The region is the pixels where the mask is at least 0.5 (any covered pixel for a fainter mask).
    """
    sel = mask >= 0.5
    if int(sel.sum()) < 2:
        sel = mask > 0
    pixels = content[:, :, sel]  # (B, 3, N)
    return coral(style, pixels.unsqueeze(2))


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
    masks: Any = None,
    region_alpha: Sequence[float] | None = None,
    max_memory: int | str | None = None,
    progress: bool | None = None,
    tile_size: int | None = None,
) -> None:
    """Validate the options of a stylisation that need neither a model nor pixels (types strict).

    :func:`adain_nst.stylize` calls it before it loads a model; :func:`stylize` before it reads an image.
    """
    check_alpha(alpha)
    for name, a in (level_alpha or {}).items():
        check_alpha(a, f"level_alpha[{name!r}]")
    check_region_options(
        masks,
        len(mask_list(masks)) if n_styles is None and masks is not None else (n_styles or 0),
        region_alpha=region_alpha,
        preserve_color=preserve_color,
        style_weights=style_weights,
    )
    if style_weights is not None:
        check_style_weights(style_weights, len(list(style_weights)) if n_styles is None else n_styles)
    if masks is None:
        check_color_mode(preserve_color)
    check_size(content_size, "content_size")
    check_size(style_size, "style_size")
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if max_memory is not None:
        parse_memory(max_memory)
    if progress is not None and not isinstance(progress, bool):
        raise InputError(f"progress must be True, False or None (a bar when stderr is a terminal), got {progress!r}")
    check_size(tile_size, "tile_size")


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
    cascade: Cascade,
    height: int,
    width: int,
    device: torch.device,
    *,
    bytes_per_value: int = 4,
    what: str = "content",
    option: str = "content_size",
) -> int | None:
    """Warn (``UserWarning``) when :func:`estimate_memory` exceeds what ``device`` has available.

    Returns the estimate in bytes when it warned, else ``None``. (Contents are tiled instead, see
    :func:`plan_tiling`; styles are encoded whole, so a huge style gets this warning.)
    """
    need = estimate_memory(cascade, height, width, bytes_per_value=bytes_per_value)
    free = available_memory(device)
    if free is None or need <= free:
        return None
    side = max(16, int(min(height, width) * math.sqrt(free / need)) // 64 * 64)
    warnings.warn(
        f"stylising the {width}x{height} px {what} needs about {_bytes(need)} of {device.type.upper()} memory "
        f"but about {_bytes(free)} is available: it may fail or swap; pass {option}={side} "
        f"(or --{option.replace('_', '-')}) or use a smaller image",
        UserWarning,
        stacklevel=3,
    )
    return need


def _bytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 10**8 else f"{n / 1e6:.1f} MB"


AUTO_BUDGET_FRACTION = 0.8
"""Share of the available memory an automatic tiling plans for (the rest: the process, headroom)."""


def level_plans(cascade: Cascade) -> tuple[LevelPlan, ...]:
    """The cascade's levels as :mod:`adain_nst.tiling` plans them (encoder and decoder op lists)."""
    return tuple(
        LevelPlan(
            pair.level,
            tuple(encoder_ops(pair.encoder.config, upto=pair.level)),
            tuple(decoder_ops(pair.decoder.config)),
        )
        for pair in cascade.pairs
    )


def plan_tiling(
    cascade: Cascade,
    height: int,
    width: int,
    device: torch.device,
    *,
    max_memory: int | str | None = None,
    tile_size: int | None = None,
    batch: int = 1,
    bytes_per_value: int = 4,
    regions: int = 0,
    content_bytes: int = 3,
    output_bytes: int = 3,
) -> TilePlan | None:
    """Whether and how to tile the stylisation of a ``height x width`` content (``None``: run it whole).

    * ``tile_size``: tiles of that core side (px), checked against ``max_memory`` if given;
    * ``max_memory`` (bytes, or a string such as ``"2GB"``): whole when :func:`estimate_memory` fits
      it, else the biggest tiles that fit (:func:`adain_nst.tiling.plan_tiles`); below the smallest
      tile :class:`~adain_nst.errors.MemoryBudgetError` says the minimum;
    * neither: whole unless the estimate exceeds the memory ``device`` has available
      (:func:`~adain_nst.engine.runtime.available_memory`); then tiles planned for
      :data:`AUTO_BUDGET_FRACTION` of it, with a ``UserWarning`` notice.

    ``content_bytes`` / ``output_bytes``: per pixel of the content and output held whole (3 for
    uint8, 12 for float32); on CUDA the budget bounds device memory (the tiles), not these.
    """
    budget = None if max_memory is None else parse_memory(max_memory)
    levels = level_plans(cascade)
    options: dict[str, Any] = dict(
        transform=cascade.transform,
        batch=batch,
        bytes_per_value=bytes_per_value,
        content_bytes=content_bytes,
        output_bytes=output_bytes,
        regions=regions,
        host=device.type == "cpu",
    )
    if tile_size is not None:
        return plan_tiles(levels, height, width, budget=budget, tile=tile_size, **options)
    need = estimate_memory(cascade, height, width, bytes_per_value=bytes_per_value, batch=batch)
    if budget is not None:
        if need <= budget:
            return None
        return plan_tiles(levels, height, width, budget=budget, **options)
    free = available_memory(device)
    if free is None or need <= free:
        return None
    plan = plan_tiles(levels, height, width, budget=int(free * AUTO_BUDGET_FRACTION), strict=False, **options)
    short = plan.peak > free
    warnings.warn(
        f"stylising the {width}x{height} px content needs about {_bytes(need)} of {device.type.upper()} memory "
        f"but about {_bytes(free)} is available: tiling it ({plan.describe()})"
        + ("; even these tiles may not fit: pass content_size=... or use a smaller image" if short else ""),
        UserWarning,
        stacklevel=3,
    )
    return plan


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


class _Plan(NamedTuple):
    """What :func:`run_cascade` runs for a call, and the colour step after it."""

    feats: StyleFeatures
    weights: list[float]
    regions: Regions | None
    mode: str | None  # the colour mode of the whole image (without regions)
    alpha_factor: float = 1.0  # multiplies every level's alpha (a whole-image region's alpha)


def _styles_and_regions(
    cascade: Cascade,
    x: Tensor | None,
    styles: Sequence[Tensor | None] | None,
    style_feats: StyleFeatures | None,
    *,
    masks: Sequence[Tensor] | None,
    region_alpha: Sequence[float] | None,
    preserve_color: Any,
    style_weights: Sequence[float] | None,
    dtype: Any,
    backend: str,
    size: tuple[int, int] | None = None,
    recolor: Callable[[Tensor, Tensor | None], Tensor] | None = None,
) -> _Plan:
    """The encoded styles, interpolation weights, regions (with ``masks``) and global colour mode of a call.

    ``x``: the content ``(B, 3, H, W)`` on the model's device; ``styles`` tensors (``None`` entries
    keep the content, masks only) unless ``style_feats`` (validated) are given. A mask that covers
    the whole image is the plain call with its style (the same numbers), not a masked one.

    A tiled call passes ``x=None``, the content's ``size`` ``(H, W)`` and ``recolor(style, mask)``
    (CORAL to the content's colours, inside ``mask`` ``(H, W)`` or everywhere for ``None``);
    its masks then stay on the host.
    """
    if recolor is None:
        assert x is not None
        content = x

        def recolor(style: Tensor, mask: Tensor | None) -> Tensor:
            return coral(style, content) if mask is None else region_coral(style, content, mask)

    if size is None:
        assert x is not None
        size = (int(x.shape[-2]), int(x.shape[-1]))
    if masks is None:
        mode = check_color_mode(preserve_color)
        if style_feats is None:
            assert styles is not None
            tensors = [s for s in styles if s is not None]
            if mode == "coral":
                tensors = [recolor(s, None) for s in tensors]
            style_feats = encode_styles(cascade, tensors, dtype=dtype, backend=backend)
        elif mode == "coral":
            raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
        weights = check_style_weights(style_weights, len(next(iter(style_feats.values()))))
        return _Plan(style_feats, weights, None, mode)
    n = len(masks)
    colors = region_color_modes(preserve_color, n)
    strengths = check_region_alpha(region_alpha, n)
    fitted = fit_masks(masks, size, device=x.device if x is not None else "cpu")
    index: list[int | None] = []
    if style_feats is None:
        assert styles is not None
        used: list[Tensor] = []
        for k, s in enumerate(styles):
            if s is None:
                index.append(None)
                continue
            index.append(len(used))
            used.append(recolor(s, fitted[0, k]) if colors[k] == "coral" else s)
        style_feats = encode_styles(cascade, used, dtype=dtype, backend=backend)
    else:
        if "coral" in colors:
            raise InputError("preserve_color='coral' needs the style images, not precomputed style_feats")
        count = len(next(iter(style_feats.values())))
        if count != n:
            raise InputError(f"style_feats holds {count} style(s) for {n} mask(s): pass one per mask")
        index = list(range(n))
    regions = Regions(fitted, tuple(index), tuple(strengths), tuple(colors))
    whole = regions.whole()
    if whole is not None and index[whole] is not None:
        j = index[whole]
        single = {level: [maps[j]] for level, maps in style_feats.items()}
        return _Plan(single, [1.0], None, colors[whole], strengths[whole])
    return _Plan(style_feats, [], regions, None)


def _scaled_alphas(alphas: Mapping[str, float], factor: float) -> Mapping[str, float]:
    return alphas if factor == 1.0 else {level: a * factor for level, a in alphas.items()}


def _finish_colour(out: Tensor, x: Tensor, mode: str | None, regions: Regions | None) -> Tensor:
    """Luminance-only transfer where asked: the whole image (``mode``), or the luminance regions."""
    if regions is not None:
        weight = regions.luminance_weight()
        return out if weight is None else out + weight * (transfer_luminance(out, x) - out)
    return transfer_luminance(out, x) if mode == "luminance" else out


def _check_none_styles(styles: Sequence[Any], masked: bool) -> None:
    if any(s is None for s in styles):
        if not masked:
            raise InputError("a None style marks a region that keeps the content: it needs masks=[...]")
        if all(s is None for s in styles):
            raise InputError("every style is None: nothing to stylise")


def reference_forward(
    cascade: Cascade,
    content: Tensor,
    style: Tensor | Sequence[Tensor | None] | None,
    alphas: Mapping[str, float],
    *,
    style_weights: Sequence[float] | None,
    preserve_color: Any,
    style_feats: Mapping[str, Sequence[Tensor]] | Sequence[Tensor] | None,
    masks: Any = None,
    region_alpha: Sequence[float] | None = None,
) -> Tensor:
    """The differentiable ``forward`` of a model: tensors in, the raw last decoder output out.

    ``content`` ``(B, 3, H, W)`` in [0, 1]; ``style`` a tensor or list of them, or ``style_feats``
    (a ``{level: [maps]}`` dict, or a list for one level); runs the reference modules.
    ``masks`` / ``region_alpha``: spatial control, as :func:`stylize`.
    """
    check_image_batch(content, "content")
    check_min_side(cascade, *content.shape[-2:], "content")
    styles: list[Tensor | None] | None = None
    feats: StyleFeatures | None = None
    if style_feats is None:
        if style is None:
            raise InputError("pass style images or precomputed style_feats")
        styles = [style] if isinstance(style, Tensor) else list(style)
        _check_none_styles(styles, masks is not None)
        for i, s in enumerate(styles):
            if s is not None:
                shape = check_image_batch(s, f"style {i}").shape
                check_min_side(cascade, *shape[-2:], f"style {i}", padded=False)
    else:
        feats = as_style_features(cascade, style_feats)
    n_styles = len(styles) if styles is not None else len(next(iter(feats.values())))  # type: ignore[union-attr]
    check_region_options(
        masks, n_styles, region_alpha=region_alpha, preserve_color=preserve_color, style_weights=style_weights
    )
    loaded = None if masks is None else load_masks(masks, n_styles)
    plan = _styles_and_regions(
        cascade,
        content,
        styles,
        feats,
        masks=loaded,
        region_alpha=region_alpha,
        preserve_color=preserve_color,
        style_weights=style_weights,
        dtype=None,
        backend="reference",
    )
    out = run_cascade(
        cascade,
        content,
        plan.feats,
        plan.weights,
        _scaled_alphas(alphas, plan.alpha_factor),
        dtype=None,
        backend="reference",
        regions=plan.regions,
    )
    return _finish_colour(out, content, plan.mode, plan.regions)


@torch.inference_mode()
def stylize(
    model: Any,
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike | None] | None = None,
    alpha: float = 1.0,
    *,
    transform: str | None = None,
    levels: Sequence[str] | None = None,
    level_alpha: Mapping[str, float] | None = None,
    style_feats: Mapping[str, Sequence[Tensor]] | Sequence[Tensor] | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: Any = None,
    content_size: int | None = None,
    style_size: int | None = None,
    dtype: torch.dtype | str | None = None,
    backend: str = "engine",
    masks: Any = None,
    region_alpha: Sequence[float] | None = None,
    max_memory: int | str | None = None,
    progress: bool | None = None,
    tile_size: int | None = None,
) -> Any:
    """Stylise ``content`` with ``model`` (anything with ``cascade(transform, levels)`` and ``device``).

    See :meth:`adain_nst.AdaINModel.stylize` and :meth:`adain_nst.MultiLevelModel.stylize` for
    the arguments. Returns the same kind as ``content`` (a path gives a PIL image), at the
    (resized) content's exact size, values in [0, 1].

    ``masks`` (spatial control): one mask per style (any kind :func:`adain_nst.masks.load_mask`
    reads), ``style`` a list with one style per mask (``None``: that region keeps the content);
    ``region_alpha`` one strength per mask; ``preserve_color`` one mode, or one per mask.
    Masks are read and checked before the content.

    High resolution (``docs/highres.md``): ``max_memory`` (bytes or ``"2GB"``) bounds the call's
    memory (host RAM on CPU, device memory on CUDA): above :func:`estimate_memory` the content is
    stylised in tiles with the whole image's statistics (:func:`plan_tiling`,
    :mod:`adain_nst.tiled`); without it, tiles are used when the estimate exceeds the available
    memory (a ``UserWarning`` says so). ``tile_size`` forces tiles of that core side (px).
    ``progress``: a tqdm bar over the tiles (``None``: when stderr is a terminal).
    """
    check_call_options(
        alpha,
        level_alpha=level_alpha,
        preserve_color=preserve_color,
        content_size=content_size,
        style_size=style_size,
        backend=backend,
        masks=masks,
        region_alpha=region_alpha,
        n_styles=None if style is None else len(_style_list(style)),
        max_memory=max_memory,
        progress=progress,
        tile_size=tile_size,
    )
    alpha = check_alpha(alpha)
    mode = check_color_mode(preserve_color) if masks is None else None
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
        _check_none_styles(styles_in, masks is not None)
        n_styles = len(styles_in)
    if masks is None:
        check_style_weights(style_weights, n_styles)  # fail before any heavy work
    check_region_options(
        masks, n_styles, region_alpha=region_alpha, preserve_color=preserve_color, style_weights=style_weights
    )
    loaded = None if masks is None else load_masks(masks, n_styles)  # bad masks fail before any decoding
    device = model.device
    # Sizes from the headers, before any decoding: too small is refused, too big is announced.
    planned = [("content", "content_size", planned_size(content, content_size))]
    planned += [
        (f"style {i}", "style_size", planned_size(s, style_size)) for i, s in enumerate(styles_in) if s is not None
    ]
    for what, option, dims in planned:
        if dims is not None:
            check_min_side(cascade, *dims, what, option, padded=what == "content")
    half = isinstance(dtype, torch.dtype) and dtype.itemsize == 2
    tile_plan = None
    content_dims = planned[0][2]
    if content_dims is not None:
        small = content_size is None and _holds_uint8(content)
        tile_plan = plan_tiling(
            cascade,
            *content_dims,
            device,
            max_memory=max_memory,
            tile_size=tile_size,
            batch=_planned_batch(content),
            bytes_per_value=2 if half else 4,
            regions=0 if loaded is None else len(loaded),
            content_bytes=3 if small else 12,
            output_bytes=3 if small else 12,
        )
    for what, option, dims in planned[1:]:  # styles are encoded whole
        if dims is not None:
            warn_if_memory_short(cascade, *dims, device, bytes_per_value=2 if half else 4, what=what, option=option)
    if tile_plan is not None:
        return _stylize_tiled(
            cascade,
            content,
            styles_in,
            style_feats,
            alphas,
            tile_plan,
            content_size=content_size,
            style_size=style_size,
            masks=loaded,
            region_alpha=region_alpha,
            preserve_color=preserve_color,
            style_weights=style_weights,
            dtype=dtype,
            backend=backend,
            device=device,
            progress=progress,
        )
    x, kind = to_tensor(content, "content", size=content_size)
    x = x.to(device)
    styles: list[Tensor | None] = [
        None if s is None else to_tensor(s, f"style {i}", size=style_size)[0].to(device)
        for i, s in enumerate(styles_in)
    ]
    try:
        pixels = max(t.shape[-2] * t.shape[-1] for t in [x, *styles] if t is not None)
        first = cascade.pairs[-1].inference_engine(dtype=dtype) if backend == "engine" else None
        scope = first.memory_scope(pixels) if first is not None else contextlib.nullcontext()
        with scope:  # one scope for the style and content passes
            plan = _styles_and_regions(
                cascade,
                x,
                styles if style_feats is None else None,
                style_feats,
                masks=loaded,
                region_alpha=region_alpha,
                preserve_color=preserve_color,
                style_weights=style_weights,
                dtype=dtype,
                backend=backend,
            )
            out = run_cascade(
                cascade,
                x,
                plan.feats,
                plan.weights,
                _scaled_alphas(alphas, plan.alpha_factor),
                dtype=dtype,
                backend=backend,
                regions=plan.regions,
            )
            out = _finish_colour(out, x, plan.mode, plan.regions)
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        h, w = x.shape[-2:]
        raise InputError(
            f"not enough {device.type.upper()} memory to stylise a {w}x{h} image: "
            "pass content_size=... (e.g. 1024) or use a smaller image"
        ) from None
    return from_tensor(out, kind)


def _holds_uint8(image: Any) -> bool:
    """Whether :func:`~adain_nst.image.to_uint8_rgb` reads ``image`` (files, PIL, ``HxWx3`` uint8 arrays)."""
    if isinstance(image, (str, os.PathLike, Image.Image)):
        return True
    return isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def _planned_batch(image: Any) -> int:
    return int(image.shape[0]) if isinstance(image, Tensor) and image.dim() == 4 else 1


_BAND_ROWS = 256  # rows per band when the content's colour moments are streamed


Moments = tuple[Tensor, Tensor, Tensor]
"""A content's colour moments: pixel count, ``sum x`` ``(3,)``, ``sum x x^T`` ``(3, 3)`` (float64)."""


def _streamed_recolor(source: ImageStore) -> Callable[[Tensor, Tensor | None], Tensor]:
    """``recolor(style, mask)`` of a tiled call: CORAL to the content held in ``source``, its colour
    moments summed band by band (inside ``mask`` ``(H, W)``: where it is >= 0.5, or > 0 for a
    region under 2 such pixels, as :func:`region_coral`)."""
    cache: dict[str, Moments] = {}

    def add(total: Moments | None, part: Moments) -> Moments:
        return part if total is None else (total[0] + part[0], total[1] + part[1], total[2] + part[2])

    def moments(mask: Tensor | None) -> Moments:
        if source.batch != 1:
            raise InputError("preserve_color='coral' recolours a style to one content: a tiled batch holds several")
        whole: Moments | None = None
        half: Moments | None = None
        some: Moments | None = None
        for y0 in range(0, source.height, _BAND_ROWS):
            box = Box(y0, min(y0 + _BAND_ROWS, source.height), 0, source.width)
            pixels = source.read(box)[0].reshape(3, -1)
            if mask is None:
                whole = add(whole, colour_moments(pixels))
                continue
            m = mask[box.y0 : box.y1].reshape(-1).cpu()
            half = add(half, colour_moments(pixels[:, m >= 0.5]))
            some = add(some, colour_moments(pixels[:, m > 0]))
        if mask is None:
            assert whole is not None
            return whole
        assert half is not None and some is not None
        return half if float(half[0]) >= 2 else some

    def recolor(style: Tensor, mask: Tensor | None) -> Tensor:
        if mask is not None:
            return coral_from_moments(style, *moments(mask))
        if "all" not in cache:
            cache["all"] = moments(None)
        return coral_from_moments(style, *cache["all"])

    return recolor


def _tile_finish(
    source: ImageStore, mode: str | None, regions: Regions | None, masks: ImageStore | None
) -> Finish | None:
    """:func:`_finish_colour` for one core of the last level, or ``None`` when there is nothing to do."""
    chosen = [] if regions is None else [k for k, m in enumerate(regions.colors) if m == "luminance"]
    if (regions is None and mode != "luminance") or (regions is not None and not chosen):
        return None

    def finish(out: Tensor, box: Box) -> Tensor:
        x = source.read(box).to(out.device)
        if regions is None or masks is None:
            return transfer_luminance(out, x)
        weight = masks.read(box)[:, chosen].sum(1, keepdim=True).to(out.device)
        return out + weight * (transfer_luminance(out, x) - out)

    return finish


def _stylize_tiled(
    cascade: Cascade,
    content: ImageLike,
    styles_in: Sequence[Any],
    style_feats: StyleFeatures | None,
    alphas: Mapping[str, float],
    plan: TilePlan,
    *,
    content_size: int | None,
    style_size: int | None,
    masks: Sequence[Tensor] | None,
    region_alpha: Sequence[float] | None,
    preserve_color: Any,
    style_weights: Sequence[float] | None,
    dtype: Any,
    backend: str,
    device: torch.device,
    progress: bool | None,
) -> Any:
    """The tiled form of :func:`stylize` (options already checked): content and output held on the
    host (uint8 where the content came as 8-bit RGB), :func:`~adain_nst.tiled.run_cascade_tiled`."""
    loaded = to_uint8_rgb(content, "content") if content_size is None else None
    kind: ImageKind
    if loaded is not None:
        data, kind = loaded
        source = ImageStore(data)
    else:
        x, kind = to_tensor(content, "content", size=content_size)
        source = ImageStore(x.cpu())
    del loaded
    styles: list[Tensor | None] = [
        None if s is None else to_tensor(s, f"style {i}", size=style_size)[0].to(device)
        for i, s in enumerate(styles_in)
    ]
    h, w = source.height, source.width
    if (h, w) != (plan.height, plan.width):  # the header and the decoded image disagree (never for our readers)
        raise InputError(f"content decoded as {w}x{h} px, not the {plan.width}x{plan.height} px its header declares")
    try:
        call_plan = _styles_and_regions(
            cascade,
            None,
            styles if style_feats is None else None,
            style_feats,
            masks=masks,
            region_alpha=region_alpha,
            preserve_color=preserve_color,
            style_weights=style_weights,
            dtype=dtype,
            backend=backend,
            size=(h, w),
            recolor=_streamed_recolor(source),
        )
        del styles
        regions = call_plan.regions
        mask_store = None if regions is None else ImageStore(regions.masks)
        small_out = source.uint8 and kind.kind in ("pil", "numpy")
        output = ImageStore.empty(source.batch, h, w, torch.uint8 if small_out else torch.float32)
        run_cascade_tiled(
            cascade,
            source,
            output,
            call_plan.feats,
            call_plan.weights,
            _scaled_alphas(alphas, call_plan.alpha_factor),
            plan,
            dtype=dtype,
            backend=backend,
            device=device,
            regions=regions,
            masks=mask_store,
            finish=_tile_finish(source, call_plan.mode, regions, mask_store),
            progress=progress,
        )
    except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise InputError(
            f"not enough {device.type.upper()} memory to stylise a {w}x{h} image in tiles ({plan.describe()}): "
            "pass a smaller max_memory, content_size=... (e.g. 1024) or use a smaller image"
        ) from None
    del source, mask_store
    if not output.uint8:
        return from_tensor(output.data, kind)
    array = output.data[0].numpy()
    return array if kind.kind == "numpy" else Image.fromarray(array)


__all__ = [
    "AUTO_BUDGET_FRACTION",
    "BACKENDS",
    "MEMORY_FACTOR",
    "Cascade",
    "Regions",
    "StyleFeatures",
    "as_style_features",
    "check_call_options",
    "check_min_side",
    "check_region_alpha",
    "check_region_options",
    "check_style_feats",
    "encode_style_images",
    "encode_styles",
    "estimate_memory",
    "is_out_of_memory",
    "level_plans",
    "min_side",
    "pad_to_multiple",
    "plan_tiling",
    "planned_size",
    "reference_forward",
    "region_color_modes",
    "region_coral",
    "run_cascade",
    "stylize",
    "warn_if_memory_short",
]

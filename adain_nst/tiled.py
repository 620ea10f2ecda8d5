"""Tiled execution of a cascade: bounded memory, the whole image's statistics.

:func:`run_cascade_tiled` is :func:`adain_nst.pipeline.run_cascade` for images too big to run
whole. Per level (coarse to fine), over the tiles of a :class:`~adain_nst.tiling.TilePlan`:

1. **statistics pass**: each tile's window (core + the encoder's halo) is encoded, the halo is
   cut off the features, and the core's features are added to the level's
   :class:`~adain_nst.nn.global_stats.StreamedStatistics` (with the masks, per region);
2. **transform pass**: each tile's window (core + the encoder and decoder's halo) is encoded
   again, transformed with the whole image's statistics
   (:class:`~adain_nst.nn.global_stats.GlobalTransform`), decoded, and the core of the output
   is written into the level's full-size result (an intermediate image on the host, or the
   output).

A level whose features fit the plan's budget is *cached*: pass 1 also keeps each core's
features in a full-size feature map on the host, and pass 2 reads feature windows from it and
only decodes them (the encoder runs once per pixel instead of twice, and the decoder's halo is
smaller than the encoder's and decoder's together).

Windows are aligned to the level's stride and lie inside the image padded to it, so the network
sees exactly what it sees without tiles, and the halo (half the receptive field) keeps the
tile's border out of the core: the result equals the untiled one up to float rounding of the
statistics. Full images live on the host (:class:`ImageStore`: uint8 or float); only tiles go
to the device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .engine.runtime import release_freed_memory, retained_heap
from .errors import InputError
from .masks import resize_masks
from .nn.global_stats import GlobalTransform, StreamedStatistics
from .nn.transforms import region_mix, transform_mix
from .tiling import Box, TilePlan

if TYPE_CHECKING:
    from .pipeline import Cascade, Regions

Finish = Callable[[Tensor, Box], Tensor]
"""``finish(output_core, box)``: the last level's output core ``(B, 3, h, w)`` at ``box`` of the
image, made final (colour); the result is clamped and stored."""


def pad_mode(height: int, width: int, multiple: int) -> str:
    """How :func:`adain_nst.pipeline.pad_to_multiple` pads a ``height x width`` image: ``"reflect"``
    where the image is bigger than the padding, else ``"replicate"``."""
    ph, pw = (-height) % multiple, (-width) % multiple
    return "reflect" if ph < height and pw < width else "replicate"


def _source_index(start: int, stop: int, size: int, mode: str) -> Tensor | slice:
    """Rows (or columns) ``start..stop`` of an image of ``size`` padded at the end by ``mode``."""
    if stop <= size:
        return slice(start, stop)
    idx = torch.arange(start, stop)
    beyond = idx >= size
    idx[beyond] = 2 * (size - 1) - idx[beyond] if mode == "reflect" else size - 1
    return idx


class ImageStore:
    """A whole image batch on the host, read and written by tiles.

    ``uint8``: ``(B, H, W, 3)`` RGB (3 bytes a pixel: what a file or PIL image holds; writes round
    as :func:`adain_nst.image.from_tensor` does); otherwise float ``(B, C, H, W)`` (float32, or
    float16 for intermediates; any channel count, e.g. masks).
    """

    def __init__(self, data: Tensor) -> None:
        if data.dim() != 4 or (data.dtype == torch.uint8 and data.shape[-1] != 3):
            raise InputError(f"an image store holds (B, H, W, 3) uint8 or (B, C, H, W) float, got {tuple(data.shape)}")
        self.data = data

    @classmethod
    def empty(cls, batch: int, height: int, width: int, dtype: torch.dtype, channels: int = 3) -> ImageStore:
        """An uninitialised store (uint8 RGB, or ``channels`` planes of a float ``dtype``)."""
        if dtype == torch.uint8:
            return cls(torch.empty(batch, height, width, 3, dtype=torch.uint8))
        return cls(torch.empty(batch, channels, height, width, dtype=dtype))

    @property
    def uint8(self) -> bool:
        return self.data.dtype == torch.uint8

    @property
    def batch(self) -> int:
        return int(self.data.shape[0])

    @property
    def height(self) -> int:
        return int(self.data.shape[1] if self.uint8 else self.data.shape[2])

    @property
    def width(self) -> int:
        return int(self.data.shape[2] if self.uint8 else self.data.shape[3])

    def read(self, box: Box, multiple: int = 1) -> Tensor:
        """``box`` of the image padded at the bottom/right to ``multiple`` (as ``pad_to_multiple``),
        float32 ``(B, C, h, w)`` (uint8 scaled to [0, 1])."""
        h, w = self.height, self.width
        mode = pad_mode(h, w, multiple)
        rows = _source_index(box.y0, box.y1, h, mode)
        cols = _source_index(box.x0, box.x1, w, mode)
        if self.uint8:
            part = self.data[:, rows][:, :, cols]
            return part.permute(0, 3, 1, 2).float() / 255.0
        return self.data[:, :, rows][:, :, :, cols].float()

    def write(self, box: Box, tile: Tensor) -> None:
        """Store ``tile`` ``(B, C, h, w)`` at ``box`` (inside the image); uint8 rounds ``clamp(x) * 255 + 0.5`` down."""
        tile = tile.detach()
        if self.uint8:  # clamp(x, 0, 1) * 255 + 0.5 == clamp(x * 255 + 0.5, 0.5, 255.5), one buffer
            values = tile.float().mul(255.0).add_(0.5).clamp_(0.5, 255.5).to(torch.uint8)
            self.data[:, box.y0 : box.y1, box.x0 : box.x1].copy_(values.permute(0, 2, 3, 1))
        else:
            self.data[:, :, box.y0 : box.y1, box.x0 : box.x1].copy_(tile)


def _runner(pair: Any, dtype: Any, backend: str) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """``(encode, decode)`` of ``pair``: the engine's (float32 features out, in the engine's memory
    format: the transform keeps it, so the decoder gets it back without a copy), or the reference
    modules'."""
    if backend == "reference":
        return pair.encode, pair.decoder
    engine = pair.inference_engine(dtype=dtype)
    return (lambda x: engine.encode(x).float()), engine.decode


def _feature_box(tile_box: Box, window: Box, stride: int) -> tuple[slice, slice]:
    """Where ``tile_box`` lies in the features of ``window`` (both aligned to ``stride``)."""
    return (
        slice((tile_box.y0 - window.y0) // stride, (tile_box.y1 - window.y0) // stride),
        slice((tile_box.x0 - window.x0) // stride, (tile_box.x1 - window.x0) // stride),
    )


def run_cascade_tiled(
    cascade: Cascade,
    source: ImageStore,
    output: ImageStore,
    style_feats: Mapping[str, Sequence[Tensor]],
    weights: Sequence[float],
    alphas: Mapping[str, float],
    plan: TilePlan,
    *,
    dtype: Any,
    backend: str,
    device: torch.device,
    regions: Regions | None = None,
    masks: ImageStore | None = None,
    finish: Finish | None = None,
    progress: bool | None = None,
) -> None:
    """Run ``cascade`` over ``source`` tile by tile into ``output`` (see the module doc).

    Args:
        cascade: the transform and the encoder/decoder pairs, coarse to fine.
        source: the content ``(B, 3, H, W)`` in [0, 1] (uint8 or float store).
        output: where the last level's result goes (same size; clamped to [0, 1]).
        style_feats, weights, alphas: as :func:`~adain_nst.pipeline.run_cascade` (``weights``
            unused with ``regions``).
        plan: the tiling (:func:`adain_nst.tiling.plan_tiles`); its levels are the cascade's.
        dtype, backend: as ``run_cascade``; device: where the tiles run.
        regions: spatial control; then ``masks`` holds ``regions.masks`` on the host (a float
            store ``(1, K, H, W)``), read window by window.
        finish: applied to each core of the last level before it is stored (colour).
        progress: a tqdm bar over the tiles (``None``: when stderr is a terminal).
    """
    if len(plan.levels) != len(cascade.pairs):
        raise InputError(f"the tile plan has {len(plan.levels)} levels for a cascade of {len(cascade.pairs)}")
    if regions is not None and masks is None:
        raise InputError("a tiled call with regions needs the masks as an ImageStore")
    h, w, b = source.height, source.width, source.batch
    n_levels = len(cascade.pairs)
    buffer_dtype = torch.float16 if plan.buffer == "float16" else torch.float32
    buffers: list[ImageStore] = []
    bar = tqdm(
        total=plan.count(),
        desc="stylize tiles",
        unit="tile",
        disable=(None if progress is None else not progress),
        leave=False,
    )
    try:
        for i, pair in enumerate(cascade.pairs):
            src = source if i == 0 else buffers[(i - 1) % 2]
            last = i == n_levels - 1
            if last:
                dst = output
            else:
                if len(buffers) <= i % 2:
                    buffers.append(ImageStore.empty(b, h, w, buffer_dtype))
                dst = buffers[i % 2]
            _run_level(
                cascade.transform,
                pair,
                plan,
                i,
                src,
                dst,
                style_feats[pair.level],
                weights,
                alphas[pair.level],
                dtype=dtype,
                backend=backend,
                device=device,
                regions=regions,
                masks=masks,
                finish=finish if last else None,
                bar=bar,
            )
    finally:
        bar.close()


def _run_level(
    transform: str,
    pair: Any,
    plan: TilePlan,
    index: int,
    src: ImageStore,
    dst: ImageStore,
    feats: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float,
    *,
    dtype: Any,
    backend: str,
    device: torch.device,
    regions: Regions | None,
    masks: ImageStore | None,
    finish: Finish | None,
    bar: Any,
) -> None:
    """Both passes of one level (see the module doc); a cached level keeps pass 1's core features
    in a full-size feature map and pass 2 only decodes windows of it."""
    lvl, tiling = plan.levels[index], plan.tilings[index]
    s = lvl.stride
    encode, decode = _runner(pair, dtype, backend)
    k = 0 if regions is None else len(regions.styles)
    first, second = plan.tiles(index, statistics=True), plan.tiles(index)

    def mask_window(box: Box) -> Tensor | None:
        if masks is None:
            return None
        return resize_masks(masks.read(box, s).to(device), (box.height // s, box.width // s))

    cache = None
    if tiling.cached:
        ph, pw = -(-src.height // s) * s, -(-src.width // s) * s
        cache = ImageStore.empty(src.batch, ph // s, pw // s, torch.float32, channels=lvl.channels)
    with _pass_scope(pair, dtype, backend, device):  # the windows of a pass all have one size
        stats = StreamedStatistics(transform, batch=src.batch, channels=lvl.channels, regions=k, device=device)
        for tile in first:
            f = encode(src.read(tile.window, s).to(device))
            rows, cols = _feature_box(tile.core, tile.window, s)
            core = f[..., rows, cols]
            stats.update(core, mask_window(tile.core))
            if cache is not None:
                cache.write(tile.core.scaled(s), core)
            del f, core
            bar.update()
        styles = [x.float() for x in feats]
        exact = cache is not None and transform == "efdm"
        if exact:  # the cached map is the whole image's: EFDM's exact ranks, written over it
            assert cache is not None
            whole = None if masks is None else mask_window(Box(0, cache.height * s, 0, cache.width * s))
            _efdm_in_place(cache, styles, weights, alpha, regions, whole, device)
            mix = None
        elif regions is None:
            mix = GlobalTransform(stats, styles, weights=weights, alpha=alpha, eps=pair.eps)
        else:
            chosen = [None if j is None else styles[j] for j in regions.styles]
            mix = GlobalTransform(stats, chosen, region_alphas=[alpha * a for a in regions.alphas], eps=pair.eps)
        del stats
    release_freed_memory()  # the holes pass 1's windows left (its halo differs from pass 2's)
    with _pass_scope(pair, dtype, backend, device):
        h, w = dst.height, dst.width
        for tile in second:
            window = tile.window
            if cache is not None:
                f = cache.read(window.scaled(s)).to(device)
            else:
                f = encode(src.read(window, s).to(device))
            target = f if mix is None else mix(f, mask_window(window), origin=(window.y0 // s, window.x0 // s))
            del f
            y = decode(target)
            del target
            core = tile.core.clip(h, w)
            out = y[..., core.y0 - window.y0 : core.y1 - window.y0, core.x0 - window.x0 : core.x1 - window.x0]
            out = finish(out, core) if finish is not None else out.clamp_(0.0, 1.0)
            dst.write(core, out)
            del y, out
            bar.update()
    release_freed_memory()


def _pass_scope(pair: Any, dtype: Any, backend: str, device: torch.device) -> AbstractContextManager[Any]:
    """The allocator setting of one pass on CPU: freed windows reused, the heap trimmed after
    (:func:`~adain_nst.engine.runtime.retained_heap`) unless the engine's ``retain_memory`` says otherwise."""
    if backend != "engine" or device.type != "cpu":
        return nullcontext()
    mode = pair.inference_engine(dtype=dtype).options.retain_memory
    return retained_heap() if mode == "call" else nullcontext()


EFDM_CHUNK_VALUES = 1 << 22
"""Feature values per chunk of channels when a cached level's EFDM runs over the whole map."""


def _efdm_in_place(
    cache: ImageStore,
    styles: Sequence[Tensor],
    weights: Sequence[float],
    alpha: float,
    regions: Regions | None,
    masks: Tensor | None,
    device: torch.device,
) -> None:
    """Replace a cached feature map by its EFDM target, a chunk of channels at a time.

    EFDM acts on each channel alone, so this is :func:`~adain_nst.nn.transforms.transform_mix` (or
    :func:`~adain_nst.nn.transforms.region_mix` with ``masks`` at the features' size) of the whole
    map: the exact ranks, with ties ordered as the whole-image call orders them.
    """
    data = cache.data
    b, c, h, w = data.shape
    step = max(1, EFDM_CHUNK_VALUES // max(1, b * h * w))
    for c0 in range(0, c, step):
        part = slice(c0, min(c, c0 + step))
        x = data[:, part].to(device)
        if regions is None:
            t = transform_mix("efdm", x, [st[:, part] for st in styles], weights, alpha)
        else:
            assert masks is not None
            chosen = [None if j is None else styles[j][:, part] for j in regions.styles]
            t = region_mix("efdm", x, chosen, masks, [alpha * a for a in regions.alphas])
        data[:, part] = t.to(data.device, data.dtype)
        del x, t


__all__ = ["EFDM_CHUNK_VALUES", "Finish", "ImageStore", "pad_mode", "run_cascade_tiled"]

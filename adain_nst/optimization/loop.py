"""The Gatys et al. optimisation loop: :func:`gatys`, projected L-BFGS / Adam over pixels, scales.

The image itself is optimised, in pixel space, so that its VGG features match the content
image's at the content layers and its Gram matrices match the style image's at the style
layers (Gatys, Ecker & Bethge, CVPR 2016). Slow (hundreds of forward/backward passes) but the
quality reference that feed-forward methods such as AdaIN are compared against.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .._checks import check_positive_int, check_style_weights
from ..color import check_color_mode, coral, transfer_luminance
from ..errors import InputError
from ..image import ImageLike, from_tensor, resize_shorter, to_tensor
from ..masks import MaskLike, fit_masks, load_masks
from .defaults import DEFAULT_CONTENT_LAYERS, PRESETS, default_weights
from .encoders import EncoderLike, resolve_encoder
from .layers import LayerSpec, check_weight, layer_weights
from .losses import GatysLoss

OPTIMIZERS = ("lbfgs", "lbfgs-wolfe", "adam")
INITS = ("content", "noise")

Callback = Callable[[int, dict[str, float]], Any]
Snapshot = Callable[[int, Tensor], Any]
StepHook = Callable[[int, Mapping[str, Tensor], Tensor], None]


def _check_steps(steps: int | Sequence[int], n_scales: int) -> list[int]:
    if isinstance(steps, int):
        values = [steps] * n_scales
    elif isinstance(steps, Sequence) and not isinstance(steps, str):
        values = list(steps)
    else:
        raise InputError(f"steps must be an int >= 1 or one int per scale, got {steps!r}")
    if len(values) != n_scales:
        raise InputError(f"steps has {len(values)} entries for {n_scales} scale(s)")
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise InputError(f"steps must be an int >= 1 (per scale), got {steps!r}")
    return values


def _check_scales(scales: Sequence[int] | None, content_size: int | None) -> list[int | None]:
    if scales is None:
        return [content_size]
    values = list(scales)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 16 for s in values):
        raise InputError(f"scales must be shorter-side sizes in px (ints >= 16), got {scales!r}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise InputError(f"scales must increase (coarse to fine), got {scales!r}")
    if content_size is not None and content_size != values[-1]:
        raise InputError(f"content_size={content_size} disagrees with the last scale {values[-1]}; give one of them")
    return list(values)


def _resize_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0.0, 1.0)


def _scaled(x: Tensor, factor: float) -> Tensor:
    """``x`` resized by ``factor`` (shorter side at least 16 px)."""
    if factor == 1.0:
        return x
    short = max(16, round(min(x.shape[-2:]) * factor))
    return resize_shorter(x, short)


def gatys(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike | None],
    *,
    masks: Sequence[MaskLike] | None = None,
    preset: str | None = None,
    encoder: EncoderLike | None = None,
    content_layers: LayerSpec = DEFAULT_CONTENT_LAYERS,
    style_layers: LayerSpec | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    optimizer: str | None = None,
    steps: int | Sequence[int] = 300,
    lr: float | None = None,
    init: str | ImageLike = "content",
    scales: Sequence[int] | None = None,
    style_weights: Sequence[float] | None = None,
    preserve_color: bool | str | None = None,
    seed: int = 0,
    callback: Callback | None = None,
    progress: bool | None = None,
    content_size: int | None = None,
    style_size: int | None = None,
    snapshot: Snapshot | None = None,
    snapshot_every: int = 0,
) -> Any:
    """Stylise ``content`` with ``style`` by optimising the image (Gatys et al. 2016).

    Args:
        content: the photo: path, PIL image, numpy array or tensor, RGB in [0, 1] (see
            :func:`adain_nst.image.to_tensor`). A batch ``(B, 3, H, W)`` is optimised jointly.
        style: one style image of any of those kinds, or a list of them to blend (with
            ``masks``: one style per mask, ``None`` for a region with no style loss).
        masks: spatial control (``docs/masks.md``): one mask per style (paths, PIL images,
            numpy arrays or tensors; binary or soft in [0, 1]; the content's aspect ratio),
            resized to every scale and layer. The style loss becomes one Gram loss per region,
            each region's Gram matrix measured inside its mask and pulled towards its own style's
            (:meth:`GatysLoss.set_style`); the content loss stays global, so uncovered pixels
            keep the content. Not with ``style_weights``; ``preserve_color`` applies to the
            whole image.
        preset: a named recipe of :data:`~adain_nst.optimization.PRESETS`: ``"gatys2016"`` (the
            default: the bundled ImageNet VGG-19 as in Gatys et al. 2016) or ``"fast"`` (the
            bundled cd16x e5); arguments given here override it.
        encoder: a :class:`VGGEncoder` (used as is, on its device), a checkpoint file, or a
            registry name, Hub repo id or local folder (see :func:`~adain_nst.optimization.resolve_encoder`);
            ``None``: :data:`~adain_nst.optimization.DEFAULT_ENCODER`. It must reach every layer used.
        content_layers: names, or ``{name: weight}``; default ``("relu4_2",)``.
        style_layers: names, or ``{name: weight}``; default relu1_1..relu5_1 with the
            encoder family's layer weights (:data:`~adain_nst.optimization.DEFAULTS`).
        content_weight, style_weight, tv_weight: weights of the three terms (>= 0);
            ``None`` takes the encoder family's value from :data:`~adain_nst.optimization.DEFAULTS`.
        optimizer: ``"lbfgs"`` (one forward/backward pass per step, no line search: the
            classic neural-style recipe), ``"lbfgs-wolfe"`` (L-BFGS with a strong-Wolfe line
            search: about 2 passes per step, steadier on badly scaled losses) or ``"adam"``
            (one pass per step); ``None``: the encoder family's (``"lbfgs"`` for the ImageNet
            VGG-19, ``"lbfgs-wolfe"`` otherwise; see :data:`~adain_nst.optimization.DEFAULTS`).
        steps: optimiser steps per scale: an int, or one int per entry of ``scales``.
        lr: step size; default 1.0 for L-BFGS, 0.02 (pixel units) for Adam.
        init: ``"content"`` (start from the content), ``"noise"`` (uniform [0, 1] noise drawn
            from ``seed``) or an image of any accepted kind (resized to the first scale).
        scales: coarse-to-fine shorter-side sizes in px, e.g. ``(256, 512)``; each scale
            starts from the previous result upsampled, with fresh optimiser state. The output
            has the last scale's size. ``None``: one pass at the content's (resized) size.
        style_weights: blending weights, one per style, >= 0 (normalised to sum 1).
        preserve_color: ``None``/``False``, ``"coral"`` (or ``True``: recolour the styles to
            the content's colour statistics first) or ``"luminance"`` (keep the content's
            chrominance in the result).
        seed: seeds the noise init; the optimisation itself is deterministic, so equal
            inputs and seeds give equal outputs on CPU.
        callback: called after every step as ``callback(step, losses)``, ``step`` counting
            from 1 across all scales and ``losses`` the floats ``total``, ``content``,
            ``style``, ``tv`` (weighted) and ``scale`` (index of the current scale).
        progress: show a tqdm bar with the step and losses; ``None``: only when stderr is a
            terminal.
        content_size: resize the content so its shorter side is this many px first.
        style_size: the same for the styles (at the last scale; coarser scales shrink the
            styles by the same factor as the content, so the texture scale stays put).
        snapshot: called as ``snapshot(step, image)`` every ``snapshot_every`` steps and
            after the last one, with the current image ``(B, 3, H, W)`` on the CPU, in [0, 1].
        snapshot_every: see ``snapshot``; 0 only calls it after the last step.

    Returns:
        The result as the same kind as ``content`` (a path gives a PIL image), at the
        (resized) content's size or the last scale's, values clamped to [0, 1].

    Optimisation: pixels are optimised directly and kept in [0, 1] by projection: after
    every step they are clamped, gradients pushing a pixel further out of range are
    zeroed, and L-BFGS's curvature pair is recomputed from the step actually taken, so its
    Hessian model stays consistent. Unconstrained L-BFGS drifts far outside [0, 1] (a final
    clamp then ruins the image). On the compressed cd16x encoders L-BFGS without a line search
    can blow up, so their default is ``"lbfgs-wolfe"``; on the ImageNet VGG-19 plain L-BFGS
    converges at least as well per step with half the passes.
    """
    # -- validate everything before any heavy work --
    if preset is not None:
        if preset not in PRESETS:
            raise InputError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
        encoder = PRESETS[preset].encoder if encoder is None else encoder
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if isinstance(init, str) and init not in INITS:
        raise InputError(f"init must be one of {INITS} or an image, got {init!r}")
    sizes = _check_scales(scales, content_size)
    step_counts = _check_steps(steps, len(sizes))
    if lr is not None and (isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0)):
        raise InputError(f"lr must be a number > 0, got {lr!r}")
    check_positive_int(snapshot_every, "snapshot_every", minimum=0)
    mode = check_color_mode(preserve_color)
    styles_in = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles_in:
        raise InputError("at least one style image is needed")
    loaded = None
    if masks is None:
        if any(s is None for s in styles_in):
            raise InputError("a None style marks a region without style loss: it needs masks=[...]")
        blend: list[float] | None = check_style_weights(style_weights, len(styles_in))
    else:
        if style_weights is not None:
            raise InputError("style_weights blends styles over the whole image; with masks each style has its region")
        if all(s is None for s in styles_in):
            raise InputError("every style is None: nothing to stylise")
        loaded = load_masks(masks, len(styles_in))  # before the encoder loads
        blend = None
    for name, value in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
        if value is not None:
            check_weight(name, value)
    c_spec = layer_weights(content_layers, "content_layers")
    s_spec = None if style_layers is None else layer_weights(style_layers, "style_layers")

    criterion = GatysLoss(
        resolve_encoder(encoder),
        content_layers=c_spec,
        style_layers=s_spec,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
    )
    optimizer = default_weights(criterion.encoder).optimizer if optimizer is None else optimizer
    if lr is None:
        lr = 1.0 if optimizer.startswith("lbfgs") else 0.02
    if criterion.content_weight == criterion.style_weight == criterion.tv_weight == 0:
        raise InputError("content_weight, style_weight and tv_weight are all 0: nothing to optimise")
    device = criterion.device

    x_full, kind = to_tensor(content, "content")
    x_full = x_full.to(device)
    styles_full = [None if s is None else to_tensor(s, f"style {i}")[0].to(device) for i, s in enumerate(styles_in)]
    if style_size is not None:
        styles_full = [None if s is None else resize_shorter(s, style_size) for s in styles_full]
    init_img = None if isinstance(init, str) else to_tensor(init, "init")[0].to(device)
    final = sizes[-1] if sizes[-1] is not None else min(x_full.shape[-2:])
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    total_steps = sum(step_counts)

    bar = None
    if progress is None:
        progress = sys.stderr.isatty()
    if progress:
        bar = tqdm(total=total_steps, desc="gatys", unit="step")
    done = 0

    def report(step: int, index: int, parts: Mapping[str, Tensor]) -> None:
        losses = {k: float(parts[k]) for k in ("total", "content", "style", "tv")}
        if not math.isfinite(losses["total"]):
            raise InputError(f"the loss became {losses['total']} at step {step}; lower lr or the loss weights")
        losses["scale"] = float(index)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(
                scale=f"{index + 1}/{len(sizes)}",
                total=f"{losses['total']:.3g}",
                content=f"{losses['content']:.3g}",
                style=f"{losses['style']:.3g}",
            )
        if callback is not None:
            callback(step, losses)

    image: Tensor | None = None
    try:
        for index, (size, n_steps) in enumerate(zip(sizes, step_counts, strict=True)):
            target = resize_shorter(x_full, size)
            hw = (int(target.shape[-2]), int(target.shape[-1]))
            factor = (size / final) if size is not None else 1.0
            styles = [None if s is None else _scaled(s, factor) for s in styles_full]
            if mode == "coral":
                # Recolour at every scale so the target colours follow the content exactly.
                styles = [None if s is None else coral(s, target).clamp(0.0, 1.0) for s in styles]
            if loaded is None:
                criterion.set_targets(target, styles, blend)
            else:
                criterion.set_targets(target, styles, masks=fit_masks(loaded, hw, device=device))
            if image is not None:
                start = _resize_to(image, hw)
            elif init_img is not None:
                start = _resize_to(init_img, hw).expand_as(target)
            elif init == "noise":
                start = torch.rand(target.shape, generator=generator).to(device)
            else:
                start = target

            def on_step(
                k: int, parts: Mapping[str, Tensor], pixels: Tensor, index: int = index, base: int = done
            ) -> None:
                step = base + k
                report(step, index, parts)
                # The last image is snapshotted below, after colour preservation.
                if snapshot is not None and snapshot_every and step % snapshot_every == 0 and step < total_steps:
                    snapshot(step, pixels.detach().clamp(0.0, 1.0).cpu())

            image = _optimise(criterion, start, optimizer, float(lr), n_steps, on_step)
            done += n_steps
    finally:
        if bar is not None:
            bar.close()

    assert image is not None
    out = image.clamp(0.0, 1.0)
    if mode == "luminance":
        out = transfer_luminance(out, resize_shorter(x_full, sizes[-1])).clamp(0.0, 1.0)
    if snapshot is not None:
        snapshot(done, out.cpu())
    return from_tensor(out, kind)


# A step of plain L-BFGS (no line search) is undone and redone with a strong-Wolfe line search
# when the loss after it is this many times the loss before it. Measured: on chicago / Mondrian
# at 256 px the second step took the loss from 1.2e8 to 4.0e9, the clamped pixels saturated and
# the run never recovered (Gram loss no lower than the photo's after 100 steps). The ordinary
# ups and downs of steps without a line search stay within +-10 %.
BLOWUP = 2.0


class _LossRose(Exception):
    """Raised inside the closure when the last plain L-BFGS step blew the loss up."""


def _lbfgs(pixels: Tensor, lr: float, line_search: bool) -> torch.optim.Optimizer:
    # max_iter=1: one step() is one L-BFGS iteration, so steps, callbacks and the bar count
    # the same thing (the history lives in the optimizer state across calls). max_eval
    # bounds the strong-Wolfe line search; the tolerances are off because we stop by count and
    # the losses can be tiny in absolute terms.
    return torch.optim.LBFGS(
        [pixels],
        lr=lr,
        max_iter=1,
        max_eval=20,
        history_size=100,
        line_search_fn="strong_wolfe" if line_search else None,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )


def _optimise(
    criterion: GatysLoss, start: Tensor, optimizer: str, lr: float, n_steps: int, on_step: StepHook
) -> Tensor:
    """Run ``n_steps`` projected optimiser steps from ``start``; returns the final pixels.

    ``on_step(k, losses, pixels)`` is called once per step k = 1..n_steps with the losses
    of the image after step k (measured by the first evaluation of step k + 1, or by one
    extra forward after the last step) and that image. With ``"lbfgs"``, a step after which
    the loss is :data:`BLOWUP` times what it was is taken back and the run goes on with
    ``"lbfgs-wolfe"`` from the image before it.
    """
    pixels = start.detach().clone().contiguous().requires_grad_(True)
    lbfgs = optimizer.startswith("lbfgs")
    guarded = optimizer == "lbfgs"  # plain L-BFGS: watch for a blow-up
    optim = _lbfgs(pixels, lr, optimizer == "lbfgs-wolfe") if lbfgs else torch.optim.Adam([pixels], lr=lr)
    # The first evaluation of step k + 1 measures the image step k left (projected): report
    # it then, before the optimiser moves the pixels.
    report_step = [0]
    reported = [0]  # the last step reported (a redone step is not reported twice)
    first_eval = [False]
    measured: list[float] = []  # loss at the first evaluation of each step: of the image before it

    def closure() -> Tensor:
        optim.zero_grad(set_to_none=False)
        parts = criterion.losses(pixels)
        if first_eval[0]:
            first_eval[0] = False
            total = float(parts["total"].detach())
            if guarded and measured and math.isfinite(measured[-1]) and total > BLOWUP * measured[-1]:
                raise _LossRose
            measured.append(total)
        parts["total"].backward()
        if report_step[0]:
            on_step(report_step[0], {k: v.detach() for k, v in parts.items()}, pixels)
            reported[0] = report_step[0]
            report_step[0] = 0
        with torch.no_grad():
            # Projected gradient: a pixel at a bound whose gradient points outward cannot move.
            g = pixels.grad
            assert g is not None
            g.masked_fill_(((pixels <= 0) & (g > 0)) | ((pixels >= 1) & (g < 0)), 0.0)
        return parts["total"]

    k = 0
    previous: Tensor | None = None  # the image before step k - 1
    while k < n_steps:
        before = pixels.detach().clone() if lbfgs else None
        report_step[0] = k if k > reported[0] else 0
        first_eval[0] = True
        try:
            if lbfgs:
                optim.step(closure)
            else:
                closure()
                optim.step()
        except _LossRose:
            # Step k - 1 blew the loss up: back to the image before it, redo it with a line search.
            assert previous is not None
            with torch.no_grad():
                pixels.copy_(previous)
            guarded = False
            optim = _lbfgs(pixels, lr, line_search=True)
            measured.pop()
            k -= 1
            previous = None
            continue
        with torch.no_grad():
            pixels.clamp_(0.0, 1.0)
        if before is not None:
            _fix_lbfgs_step(optim, pixels, before)
        previous = before
        k += 1
    with torch.no_grad():
        on_step(n_steps, criterion.losses(pixels), pixels)
    return pixels.detach()


def _fix_lbfgs_step(optim: torch.optim.Optimizer, pixels: Tensor, before: Tensor) -> None:
    """Make L-BFGS's next curvature pair use the step actually taken (after clamping).

    torch's LBFGS forms ``s = d * t`` from its stored direction and step length; replacing
    ``d`` by ``(x_new - x_old) / t`` keeps ``s`` equal to the real displacement, so the pair
    ``(s, y)`` describes the objective and is not corrupted by the projection.
    """
    state = optim.state[pixels]
    t = state.get("t")
    if state.get("d") is None or t is None or float(t) == 0.0:
        return
    state["d"] = (pixels.detach() - before).flatten() / t


__all__ = ["INITS", "OPTIMIZERS", "Callback", "Snapshot", "gatys"]

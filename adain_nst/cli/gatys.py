"""``adain-nst gatys``: stylise by image optimisation (Gatys et al. 2016), the slow quality reference."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from torch import Tensor

from ..engine.runtime import resolve_device
from ..errors import InputError
from ..image import save_animation, save_image
from ..optimization import DEFAULT_CONTENT_LAYERS, OPTIMIZERS, PRESETS, resolve_encoder
from ..optimization import gatys as optimize_image
from ._options import EXIT_OK, add_device_option, check_image_suffix, floats, ints, require_files
from .stylize import NO_STYLE, add_mask_options, region_options

GIF_FRAMES = 60  # frames of an --animation without --save-every, however many steps there are


def layer_list(text: str) -> list[str] | dict[str, float]:
    """An argparse ``type``: ``relu1_1,relu2_1`` (equal weights) or ``relu1_1:0.5,relu4_1:2`` (weighted)."""
    items = [t for t in text.replace(",", " ").split() if t]
    if not any(":" in t for t in items):
        return items
    try:
        return {name: float(w) for name, w in (t.split(":", 1) for t in items)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected name:weight pairs such as relu1_1:0.5, got {text!r}") from None


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``gatys`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "gatys",
        help="stylise by image optimisation (Gatys et al. 2016): slow, the quality reference",
        description=(
            "Optimise the image so its VGG features match CONTENT's and its Gram matrices match the "
            "STYLE(s)'. Loss weights default to the encoder family's (see docs/gatys.md)."
        ),
    )
    p.add_argument("content", help="content image file")
    p.add_argument("style", nargs="+", help="style image file(s); several are blended (see --style-weights)")
    p.add_argument("-o", "--out", required=True, help="output image file (.png, .jpg ...)")
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="gatys2016 (default: the bundled ImageNet VGG-19, as Gatys et al. 2016) or fast (the bundled cd16x e5)",
    )
    p.add_argument(
        "--encoder",
        help="checkpoint file (cd16x e5.pth, vgg_normalised.pth, torchvision vgg16/vgg19-*.pth) or registry name "
        "(vgg19-imagenet, cd16x-e5 ...), Hub repo or folder (default: the preset's)",
    )
    p.add_argument("--steps", type=ints, default=[300], help="L-BFGS/Adam steps, or one count per scale (default 300)")
    p.add_argument("--size", type=int, default=512, help="content shorter side in px (default 512; 0 keeps it)")
    p.add_argument("--style-size", type=int, help="style shorter side in px (default: as given)")
    p.add_argument("--scales", type=ints, help="coarse-to-fine shorter sides, e.g. 256,512 (the last sets the size)")
    p.add_argument("--content-weight", type=float)
    p.add_argument("--style-weight", type=float)
    p.add_argument("--tv-weight", type=float)
    p.add_argument("--content-layers", type=layer_list, help="e.g. relu4_2 (default)")
    p.add_argument("--style-layers", type=layer_list, help="e.g. relu1_1,relu2_1 or relu1_1:0.2,relu4_1:0.8")
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="lbfgs (one pass per step), lbfgs-wolfe (with a line search) or adam; default: the encoder's "
        "(lbfgs on the ImageNet VGG-19, lbfgs-wolfe on cd16x)",
    )
    p.add_argument("--lr", type=float, help="step size (default 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", default="content", help="content, noise or an image file (default content)")
    p.add_argument("--style-weights", type=floats, help="blending weights, one per style, e.g. 0.3,0.7")
    add_mask_options(p, region_alpha=False)
    p.add_argument("--preserve-color", choices=("coral", "luminance"), help="keep the content's colours")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise init (default 0)")
    add_device_option(p)
    p.add_argument("--save-every", type=int, default=0, help="also write OUT_stepNNNN.<ext> every N steps")
    p.add_argument("--animation", help="write the optimisation as an animated GIF (frames every --save-every steps)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")
    return p


def _check_options(args: argparse.Namespace) -> str | Path:
    """Refuse bad options and missing files before the encoder loads; returns the init (name or file)."""
    check_image_suffix(args.out)
    if args.animation and Path(args.animation).suffix.lower() != ".gif":
        raise InputError(f"--animation must name a .gif file, got {args.animation}")
    if args.save_every < 0:
        raise InputError("--save-every must be >= 0")
    init: str | Path = args.init
    if init not in ("content", "noise"):
        init = Path(init)
        if not init.is_file():
            raise InputError(f"--init must be content, noise or an image file; {init} does not exist")
    kept = [s.lower() == NO_STYLE and not Path(s).exists() for s in args.style]
    if any(kept) and not (args.masks or args.label_map):
        raise InputError(f"a STYLE of '{NO_STYLE}' marks a region without style loss: it needs --mask")
    require_files([Path(args.content), *(Path(s) for s, k in zip(args.style, kept, strict=True) if not k)])
    return init


def run(args: argparse.Namespace) -> int:
    """Optimise, write the image (and intermediates / GIF), print where; returns the exit status."""
    init = _check_options(args)
    regions = region_options(args, len(args.style))  # every mask read and checked before the encoder loads
    styles = [None if s.lower() == NO_STYLE and not Path(s).exists() else str(s) for s in args.style]
    device = resolve_device(args.device)
    out = Path(args.out)
    steps: int | list[int] = args.steps[0] if len(args.steps) == 1 else args.steps
    size = None if args.scales else (args.size or None)  # with --scales the last scale sets the size
    total = sum(args.steps) if len(args.steps) > 1 else args.steps[0] * len(args.scales or [size])
    every = args.save_every or max(1, total // GIF_FRAMES)
    snapshots = bool(args.animation or args.save_every)
    frames: list[Tensor] = []
    written: list[str] = []

    def snapshot(step: int, image: Tensor) -> None:
        if args.animation:
            frames.append(image)
        if args.save_every and step % args.save_every == 0:
            path = out.with_name(f"{out.stem}_step{step:04d}{out.suffix}")
            save_image(image[0], path)
            written.append(str(path))

    preset = PRESETS[args.preset or "gatys2016"]
    encoder = resolve_encoder(args.encoder or preset.encoder).to(device)
    last: dict[str, float] = {}
    t0 = time.perf_counter()
    result = optimize_image(
        str(args.content),
        styles,
        **regions,
        encoder=encoder,
        content_layers=args.content_layers or DEFAULT_CONTENT_LAYERS,
        style_layers=args.style_layers,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        optimizer=args.optimizer,
        steps=steps,
        lr=args.lr,
        init=str(init) if isinstance(init, Path) else init,
        scales=args.scales,
        style_weights=args.style_weights,
        preserve_color=args.preserve_color,
        seed=args.seed,
        callback=lambda step, losses: last.update(losses),
        progress=not args.json,
        content_size=size,
        style_size=args.style_size,
        snapshot=snapshot if snapshots else None,
        snapshot_every=every if snapshots else 0,
    )
    save_image(result, out)
    if args.animation:
        save_animation(frames, args.animation)
    summary = {
        "output": str(out),
        "size": list(result.size),
        "seconds": round(time.perf_counter() - t0, 3),
        "losses": {k: v for k, v in last.items() if k != "scale"},
        "intermediates": written,
        "animation": args.animation,
        "frames": len(frames),
        "device": str(device),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        extra = f" and {args.animation} ({len(frames)} frames)" if args.animation else ""
        print(f"wrote {out}{extra}")
    return EXIT_OK


__all__ = ["add_parser", "layer_list", "run"]

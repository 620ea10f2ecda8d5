"""Command line: ``adain-nst stylize | train | ...``.

Each subcommand has an ``_add_<name>(subparsers)`` that declares its options and a
``_cmd_<name>(args) -> int`` that runs it. Errors a user can fix are printed as one line
(``error: ...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import AdainNSTError


def _number_list(cast: Callable[[str], Any], kind: str) -> Callable[[str], list[Any]]:
    """An argparse ``type`` for lists like ``0.3,0.7`` (commas or spaces) of ``cast`` values."""

    def parse(text: str) -> list[Any]:
        try:
            return [cast(x) for x in text.replace(",", " ").split()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind} separated by commas, got {text!r}") from None

    return parse


_floats = _number_list(float, "numbers")
_ints = _number_list(int, "integers")


def _expand(paths: Sequence[str], what: str) -> tuple[list[Path], bool]:
    """Files named directly, plus the images inside any directory; flag: a directory was given."""
    from .image import list_images

    files: list[Path] = []
    had_dir = False
    for p in map(Path, paths):
        if p.is_dir():
            had_dir = True
            files += list_images(p, what=what)
        else:
            files.append(p)
    return files, had_dir


# -- stylize ---------------------------------------------------------------------------------
def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="registered model name, Hub repo id or local folder (default: the registry default)")
    p.add_argument("--encoder", help="encoder checkpoint file (pytorch-AdaIN, cd16x or ours); use with --decoder")
    p.add_argument("--decoder", help="decoder checkpoint file; use with --encoder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")


def _check_model_args(args: argparse.Namespace) -> None:
    if bool(args.encoder) != bool(args.decoder):
        raise AdainNSTError("--encoder and --decoder must be given together")
    if args.encoder and args.model:
        raise AdainNSTError("give either --model or --encoder/--decoder, not both")


def _load_model(args: argparse.Namespace) -> Any:
    from .api import get_model, model_from_files

    _check_model_args(args)
    if args.encoder:
        return model_from_files(args.encoder, args.decoder, device=args.device)
    return get_model(args.model, device=args.device)


def _add_stylize(sub: Any) -> None:
    p = sub.add_parser(
        "stylize",
        help="stylise content image(s) with style image(s)",
        description=(
            "Stylise CONTENT with STYLE. Several style files are interpolated (see --style-weights). "
            "If CONTENT or a STYLE is a directory, every content x style pair is produced instead, "
            "written into the OUT directory as <content>_<style>.<ext>."
        ),
    )
    p.add_argument("content", help="content image file or directory")
    p.add_argument("style", nargs="+", help="style image file(s) or directory")
    p.add_argument("-o", "--out", required=True, help="output file, or directory for several pairs")
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    p.add_argument("--style-weights", type=_floats, help="interpolation weights, one per style, e.g. 0.3,0.7")
    p.add_argument("--preserve-color", choices=("coral", "luminance"), help="keep the content's colours")
    p.add_argument("--content-size", type=int, help="resize content so its shorter side is this many px")
    p.add_argument("--style-size", type=int, help="resize styles so their shorter side is this many px")
    p.add_argument("--ext", default="png", help="output format for directory outputs (default png)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_model_options(p)


def _cmd_stylize(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .adain import check_alpha, normalize_style_weights
    from .image import save_image

    check_alpha(args.alpha)
    _check_model_args(args)
    contents, content_dir = _expand([args.content], "content")
    styles, style_dir = _expand(args.style, "style")
    pairs_mode = content_dir or style_dir
    if pairs_mode and args.style_weights:
        raise AdainNSTError("--style-weights interpolates several style files; it cannot be used with directories")
    if not pairs_mode:
        normalize_style_weights(args.style_weights, len(styles))
    for f in [*contents, *styles]:
        if not f.is_file():  # fail before the (slow) model load
            raise AdainNSTError(f"image file not found: {f}")
    out = Path(args.out)
    if pairs_mode:
        if out.exists() and not out.is_dir():
            raise AdainNSTError(f"{out} is a file; several outputs need a directory")
        ext = args.ext.lstrip(".")
        jobs = [(c, [s], out / f"{c.stem}_{s.stem}.{ext}") for c in contents for s in styles]
    else:
        target = out / f"{contents[0].stem}_stylized.{args.ext.lstrip('.')}" if out.is_dir() else out
        jobs = [(contents[0], styles, target)]
    model = _load_model(args)
    options = dict(
        style_weights=args.style_weights,
        preserve_color=args.preserve_color or False,
        content_size=args.content_size,
        style_size=args.style_size,
    )
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = tqdm(jobs, desc="stylize", unit="img", disable=len(jobs) < 2 or args.json)
    for content, style_list, target in bar:
        t = time.perf_counter()
        image = model.stylize(str(content), [str(s) for s in style_list], args.alpha, **options)
        save_image(image, target)
        results.append(
            {
                "content": str(content),
                "styles": [str(s) for s in style_list],
                "output": str(target),
                "size": list(image.size),
                "seconds": round(time.perf_counter() - t, 4),
            }
        )
    summary = {"outputs": results, "count": len(results), "seconds": round(time.perf_counter() - t0, 3)}
    if args.json:
        print(json.dumps(summary, indent=2))
    elif len(results) == 1:
        print(f"wrote {results[0]['output']}")
    else:
        print(f"wrote {len(results)} images to {out}")
    return 0


# -- train -----------------------------------------------------------------------------------
def _add_train(sub: Any) -> None:
    from .train import TrainConfig

    d = TrainConfig(content_dir="", style_dir="", encoder="", out="")
    p = sub.add_parser("train", help="train a decoder with the AdaIN paper's recipe")
    p.add_argument("--content-dir", required=True, help="folder of content photos")
    p.add_argument("--style-dir", required=True, help="folder of style images")
    p.add_argument("--encoder", required=True, help="encoder checkpoint (cd16x e4.pth, vgg_normalised.pth or ours)")
    p.add_argument("--init-decoder", help="start from this decoder (e.g. cd16x d4.pth) instead of random weights")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, log.jsonl, decoder.safetensors")
    p.add_argument("--iters", type=int, default=d.iters)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="lr / (1 + lr_decay * step)")
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument("--content-weight", type=float, default=d.content_weight)
    p.add_argument("--size", type=int, default=d.size, help="shorter side after resizing, px")
    p.add_argument("--crop", type=int, default=d.crop, help="random square crop, px")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument("--amp", action="store_true", help="float16 mixed precision (CUDA only)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-cache", action="store_true", help="do not keep decoded images in memory")


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    config = TrainConfig(
        content_dir=args.content_dir,
        style_dir=args.style_dir,
        encoder=args.encoder,
        out=args.out,
        init_decoder=args.init_decoder,
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        size=args.size,
        crop=args.crop,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        checkpoint_every=args.checkpoint_every,
        cache_images=not args.no_cache,
    )
    result = train(config, resume=args.resume)
    last = result.last
    losses = f" content {last.content:.4f} style {last.style:.4f}" if last else ""
    print(f"step {result.step}/{config.iters}{losses}; outputs in {result.out}")
    return 0


# -- models / download -----------------------------------------------------------------------
def _add_models(sub: Any) -> None:
    p = sub.add_parser("models", help="list the registered pretrained models")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the Markdown table of docs/weights.md")
    fmt.add_argument("--json", action="store_true", help="one JSON object per model")


def _cmd_models(args: argparse.Namespace) -> int:
    from .registry import DEFAULT_MODEL, REGISTRY, list_models, markdown_table, status

    if args.markdown:
        print(markdown_table(), end="")
        return 0
    specs = [REGISTRY[n] for n in list_models()]
    if args.json:
        rows = [
            {
                "name": s.name,
                "default": s.name == DEFAULT_MODEL,
                "repo_id": s.repo_id,
                "revision": s.revision,
                "status": status(s),
                "num_params": s.num_params,
                "license": s.license,
                "encoder": s.encoder.to_dict(),
                "decoder": s.decoder.to_dict(),
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in s.files],
                "description": s.description,
            }
            for s in specs
        ]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(s.name) for s in specs) + 2
    for s in specs:
        mark = "*" if s.name == DEFAULT_MODEL else " "
        print(f"{mark} {s.name:<{width}}{s.num_params:>12,} params  {s.license:<18} {status(s):<29} {s.description}")
    print("(* default; details and licences: adain-nst models --markdown, docs/weights.md)")
    return 0


def _add_download(sub: Any) -> None:
    p = sub.add_parser("download", help="fetch and verify a pretrained model into the Hugging Face cache")
    p.add_argument("name", help="registered model name or Hub repo id (org/name[@revision])")
    p.add_argument("--revision", help="Hub branch, tag or commit (default: the registered commit)")
    p.add_argument("--cache-dir", help="Hugging Face cache folder (default: HF_HUB_CACHE)")
    p.add_argument("--force", action="store_true", help="download again even if cached")
    p.add_argument("--token", help="Hub token for private repositories (default: HF_TOKEN or the stored login)")


def _cmd_download(args: argparse.Namespace) -> int:
    from .hub import download

    folder = download(
        args.name, revision=args.revision, cache_dir=args.cache_dir, force_download=args.force, token=args.token
    )
    print(folder)
    return 0


# -- bench ------------------------------------------------------------------------------------------
def _add_bench(sub: Any) -> None:
    from .bench import add_arguments

    p = sub.add_parser(
        "bench",
        help="time stylisation: the library's engine vs a pytorch-AdaIN-style reference",
        description=(
            "Speed benchmark (same as benchmarks/speed.py): latency, throughput, GFLOP/s and peak memory "
            "for the full-size and cd16x models; writes a JSON report and markdown tables."
        ),
    )
    add_arguments(p)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_from_args

    return int(run_from_args(args))


# -- gatys -----------------------------------------------------------------------------------
def _layer_list(text: str) -> list[str] | dict[str, float]:
    """``relu1_1,relu2_1`` (equal weights) or ``relu1_1:0.5,relu4_1:2`` (explicit weights)."""
    items = [t for t in text.replace(",", " ").split() if t]
    if not any(":" in t for t in items):
        return items
    try:
        return {name: float(w) for name, w in (t.split(":", 1) for t in items)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected name:weight pairs such as relu1_1:0.5, got {text!r}") from None


def _add_gatys(sub: Any) -> None:
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
        "--encoder",
        help="checkpoint file (cd16x e5.pth, vgg_normalised.pth, torchvision vgg16/vgg19-*.pth) or registry name, "
        "Hub repo or folder (default: vgg19-adain)",
    )
    p.add_argument("--steps", type=_ints, default=[300], help="L-BFGS/Adam steps, or one count per scale (default 300)")
    p.add_argument("--size", type=int, default=512, help="content shorter side in px (default 512; 0 keeps it)")
    p.add_argument("--style-size", type=int, help="style shorter side in px (default: as given)")
    p.add_argument("--scales", type=_ints, help="coarse-to-fine shorter sides, e.g. 256,512 (the last sets the size)")
    p.add_argument("--content-weight", type=float)
    p.add_argument("--style-weight", type=float)
    p.add_argument("--tv-weight", type=float)
    p.add_argument("--content-layers", type=_layer_list, help="e.g. relu4_2 (default)")
    p.add_argument("--style-layers", type=_layer_list, help="e.g. relu1_1,relu2_1 or relu1_1:0.2,relu4_1:0.8")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--lr", type=float, help="step size (default 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", default="content", help="content, noise or an image file (default content)")
    p.add_argument("--style-weights", type=_floats, help="blending weights, one per style, e.g. 0.3,0.7")
    p.add_argument("--preserve-color", choices=("coral", "luminance"), help="keep the content's colours")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise init (default 0)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    p.add_argument("--save-every", type=int, default=0, help="also write OUT_stepNNNN.<ext> every N steps")
    p.add_argument("--animation", help="write the optimisation as an animated GIF (frames every --save-every steps)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout (no progress bar)")


def _cmd_gatys(args: argparse.Namespace) -> int:
    from PIL import Image

    from .gatys import DEFAULT_CONTENT_LAYERS, gatys, resolve_encoder, save_animation
    from .image import save_image

    out = Path(args.out)
    if out.suffix.lower() not in Image.registered_extensions():
        raise AdainNSTError(f"unknown image format for {out} (use a suffix such as .png or .jpg)")
    if args.animation and Path(args.animation).suffix.lower() != ".gif":
        raise AdainNSTError(f"--animation must name a .gif file, got {args.animation}")
    if args.save_every < 0:
        raise AdainNSTError("--save-every must be >= 0")
    init: Any = args.init
    if init not in ("content", "noise"):
        init = Path(init)
        if not init.is_file():
            raise AdainNSTError(f"--init must be content, noise or an image file; {init} does not exist")
    for f in [Path(args.content), *map(Path, args.style)]:
        if not f.is_file():  # fail before loading the encoder
            raise AdainNSTError(f"image file not found: {f}")
    steps: int | list[int] = args.steps[0] if len(args.steps) == 1 else args.steps
    size = args.size or None
    if args.scales:
        size = None  # the last scale sets the size

    encoder = resolve_encoder(args.encoder)
    if args.device:
        encoder = encoder.to(args.device)
    total = sum(args.steps) if len(args.steps) > 1 else args.steps[0] * len(args.scales or [size])
    # Without --save-every the GIF gets about 60 frames, however many steps there are.
    every = args.save_every or max(1, total // 60)
    frames: list[Any] = []
    written: list[str] = []

    def snapshot(step: int, image: Any) -> None:
        if args.animation:
            frames.append(image)
        if args.save_every and (step % args.save_every == 0):
            path = out.with_name(f"{out.stem}_step{step:04d}{out.suffix}")
            save_image(image[0], path)
            written.append(str(path))

    last: dict[str, float] = {}
    t0 = time.perf_counter()
    result = gatys(
        str(args.content),
        [str(s) for s in args.style],
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
        snapshot=snapshot if (args.animation or args.save_every) else None,
        snapshot_every=every if (args.animation or args.save_every) else 0,
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
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        extra = f" and {args.animation} ({len(frames)} frames)" if args.animation else ""
        print(f"wrote {out}{extra}")
    return 0


COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "stylize": (_add_stylize, _cmd_stylize),
    "train": (_add_train, _cmd_train),
    "models": (_add_models, _cmd_models),
    "download": (_add_download, _cmd_download),
    "bench": (_add_bench, _cmd_bench),
    "gatys": (_add_gatys, _cmd_gatys),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="adain-nst", description="Arbitrary style transfer (AdaIN) and Gatys.")
    parser.add_argument("--version", action="version", version=f"adain-nst {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``adain-nst`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (AdainNSTError, OSError, ValueError) as exc:
        # Users see what went wrong and where, not a stack trace from deep inside torch.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``adain-nst train``: train a decoder with the AdaIN paper's recipe (over :func:`adain_nst.train.train`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..engine.runtime import resolve_device
from ..train import TrainConfig, train
from ._options import EXIT_OK


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``train`` and its options on the subparsers ``sub``; defaults are :class:`TrainConfig`'s."""
    d = TrainConfig(content_dir="", style_dir="", encoder="", out="")
    p = sub.add_parser("train", help="train a decoder with the AdaIN paper's recipe")
    p.add_argument("--content-dir", required=True, help="folder of content photos")
    p.add_argument("--style-dir", required=True, help="folder of style images")
    p.add_argument("--encoder", required=True, help="encoder checkpoint (cd16x e4.pth, vgg_normalised.pth or ours)")
    p.add_argument(
        "--loss-encoder",
        help="network of the style loss: a checkpoint file or a bundled encoder name such as vgg19-imagenet "
        "(default: --encoder itself, as in the paper)",
    )
    p.add_argument("--init-decoder", help="start from this decoder (e.g. cd16x d4.pth) instead of random weights")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, log.jsonl, decoder.safetensors")
    p.add_argument("--iters", type=int, default=d.iters)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay, help="lr / (1 + lr_decay * step)")
    p.add_argument("--style-weight", type=float, default=d.style_weight)
    p.add_argument(
        "--style-layer-weights",
        type=_weights,
        help="one factor per style layer, relu1_1 first, comma-separated (e.g. 100,10,3,1; default: all 1)",
    )
    p.add_argument("--content-weight", type=float, default=d.content_weight)
    p.add_argument("--size", type=int, default=d.size, help="shorter side after resizing, px")
    p.add_argument("--crop", type=int, default=d.crop, help="random square crop, px")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help=f"cpu, cuda, cuda:1, mps or auto (default: {d.device})")
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16", "auto"],
        help="training precision: float32 (default), bfloat16 (CUDA or a CPU with native bf16), "
        "float16 (CUDA), auto (bfloat16 where native); a resumed run keeps its recorded one",
    )
    p.add_argument("--amp", action="store_true", help="deprecated: --dtype float16 (CUDA only)")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument(
        "--snapshot-every",
        type=int,
        help="also export the decoder every N steps as decoder-step{N}.safetensors (snapshots to average)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-cache", action="store_true", help="do not keep decoded images in memory")
    return p


def _weights(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 100,10,3,1, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Train, then print the last step's losses and where the outputs are; returns the exit status."""
    device = resolve_device(args.device)  # an unavailable device is refused before any data loads
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
        device=str(device),
        amp=args.amp,
        checkpoint_every=args.checkpoint_every,
        cache_images=not args.no_cache,
        dtype=args.dtype,
        loss_encoder=args.loss_encoder,
        style_layer_weights=args.style_layer_weights,
        snapshot_every=args.snapshot_every,
    )
    result = train(config, resume=args.resume)
    last = result.last
    losses = f" content {last.content:.4f} style {last.style:.4f}" if last else ""
    print(f"step {result.step}/{config.iters}{losses}; outputs in {result.out}")
    return EXIT_OK


__all__ = ["add_parser", "run"]

#!/usr/bin/env python3
"""Torch-free style transfer with graphs exported by ``adain_nst.export_onnx`` (numpy, onnxruntime, Pillow only).

This file is standalone: ``export_onnx`` copies it beside the export as ``adain_onnx_runner.py``,
and a deployment needs only ``pip install numpy onnxruntime pillow`` (no torch, no adain_nst).

Command line::

    python adain_onnx_runner.py MODEL CONTENT STYLE -o OUT.png [--alpha 0.8] [--content-size 512]

where MODEL is the exported ``.onnx`` file (one graph) or the folder of a split export (its
``model.json``, encoder and decoder graphs). In Python::

    from adain_onnx_runner import load, read_image, save_image
    net = load("adain.onnx")
    out = net.stylize(read_image("photo.jpg"), read_image("painting.jpg"), alpha=1.0)  # (1, 3, H, W) in [0, 1]
    save_image(out, "out.png")

Arrays are float32 ``(B, 3, H, W)`` RGB in [0, 1]. A split export runs, per level, the encoder
graph on the reflection-padded content and on the style, the transform here in numpy (AdaIN,
WCT or EFDM, as adain_nst computes them; EFDM ranks tied values, e.g. the zeros of ReLU features,
in index order, where torch's unstable sort does not: outputs differ there), the decoder
graph, and crops back; between levels the image is clamped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

WCT_RANK_TOL = 1e-5


def _session(path: Path, threads: int | None) -> Any:
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _check_images(content: np.ndarray, style: np.ndarray, alpha: float, min_side: int) -> None:
    for name, a in (("content", content), ("style", style)):
        if a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(f"{name} must be a (B, 3, H, W) array, got shape {a.shape}")
        if min(a.shape[2:]) < min_side:
            raise ValueError(f"{name} is {a.shape[3]}x{a.shape[2]} px; this model needs at least {min_side} px a side")
    if style.shape[0] not in (1, content.shape[0]):
        raise ValueError(f"style batch {style.shape[0]} must be 1 or the content's {content.shape[0]}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


class OneGraph:
    """An exported one-graph model (``content, style, alpha -> image``)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.session = _session(Path(path), threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.min_side = int(meta.get("adain_nst.min_side", "1"))
        self.levels = meta.get("adain_nst.levels", "").split(",")

    def stylize(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """``(B, 3, H, W)`` float32 in [0, 1]; ``style`` of batch 1 is repeated for every content."""
        _check_images(content, style, alpha, self.min_side)
        if style.shape[0] != content.shape[0]:
            style = np.repeat(style, content.shape[0], axis=0)
        feeds = {
            "content": np.ascontiguousarray(content, dtype=np.float32),
            "style": np.ascontiguousarray(style, dtype=np.float32),
            "alpha": np.asarray(alpha, dtype=np.float32),
        }
        return self.session.run(["image"], feeds)[0]


def adain(content: np.ndarray, style: np.ndarray, eps: float) -> np.ndarray:
    """AdaIN of ``(B, C, h, w)`` features: the content's channel mean/std replaced by the style's (unbiased + eps)."""

    def stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = f.reshape(f.shape[0], f.shape[1], -1).astype(np.float64)
        return x.mean(-1)[..., None, None], np.sqrt(x.var(-1, ddof=1) + eps)[..., None, None]

    cm, cs = stats(content)
    sm, ss = stats(style)
    return ((content - cm) / cs * ss + sm).astype(np.float32)


def _eigh_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(1, keepdims=True)
    c = x - mean
    cov = c @ c.T / max(x.shape[1] - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    return mean, np.clip(evals, 0.0, None), evecs


def wct(content: np.ndarray, style: np.ndarray, eps: float) -> np.ndarray:
    """Whitening and colouring of ``(B, C, h, w)`` features, float64 (rank-tolerant as adain_nst's)."""
    b, c = content.shape[:2]
    out = np.empty_like(content, dtype=np.float32)
    for i in range(b):
        x = content[i].reshape(c, -1).astype(np.float64)
        y = style[min(i, style.shape[0] - 1)].reshape(c, -1).astype(np.float64)
        mc, ec, vc = _eigh_cov(x)
        ms, es, vs = _eigh_cov(y)
        keep = ec > WCT_RANK_TOL * max(ec.max(), 1e-30)
        inv = np.where(keep, 1.0 / np.sqrt(ec + eps), 0.0)
        m = (vs * np.sqrt(es)) @ vs.T @ ((vc * inv) @ vc.T)
        out[i] = (m @ (x - mc) + ms).reshape(content.shape[1:])
    return out


def efdm(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Exact feature distribution matching: every channel takes the style's sorted values rank for rank."""
    b, c = content.shape[:2]
    x = content.reshape(b, c, -1)
    y = np.broadcast_to(style.reshape(style.shape[0], c, -1), (b, c, style[0, 0].size))
    n, m = x.shape[-1], y.shape[-1]
    order = np.argsort(x, axis=-1, kind="stable")
    sorted_style = np.sort(y, axis=-1).astype(np.float32)
    if m != n:
        pos = np.clip((np.arange(n, dtype=np.float32) + 0.5) * (m / n) - 0.5, 0, m - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, m - 1)
        frac = pos - lo
        sorted_style = sorted_style[..., lo] * (1 - frac) + sorted_style[..., hi] * frac
    out = np.empty_like(x, dtype=np.float32)
    np.put_along_axis(out, order, sorted_style, axis=-1)
    return out.reshape(content.shape)


TRANSFORMS = {"adain": adain, "wct": wct, "efdm": efdm}


class SplitGraphs:
    """A split export: per level an encoder and a decoder graph, the transform in numpy."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        root = Path(folder)
        spec = json.loads((root / "model.json").read_text(encoding="utf-8"))
        self.transform = spec["transform"]
        self.min_side = int(spec["min_side"])
        self.stages = [
            (lvl, _session(root / lvl["encoder"], threads), _session(root / lvl["decoder"], threads))
            for lvl in spec["levels"]
        ]
        self.levels = [lvl["level"] for lvl in spec["levels"]]

    def stylize(self, content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """``(B, 3, H, W)`` float32 in [0, 1]; ``style`` of batch 1 is shared by every content."""
        _check_images(content, style, alpha, self.min_side)
        x = np.asarray(content, dtype=np.float32)
        s = np.ascontiguousarray(style, dtype=np.float32)
        for i, (lvl, enc, dec) in enumerate(self.stages):
            if i:
                x = np.clip(x, 0.0, 1.0)
            h, w = x.shape[2:]
            k = int(lvl["stride"])
            padded = np.pad(x, ((0, 0), (0, 0), (0, -h % k), (0, -w % k)), mode="reflect")
            fc = enc.run(["features"], {"image": np.ascontiguousarray(padded)})[0]
            fs = enc.run(["features"], {"image": s})[0]
            if self.transform == "efdm":
                t = efdm(fc, fs)
            else:
                t = TRANSFORMS[self.transform](fc, fs, float(lvl["eps"]))
            t = (alpha * t + (1.0 - alpha) * fc).astype(np.float32)
            x = dec.run(["image"], {"features": t})[0][:, :, :h, :w]
        return np.clip(x, 0.0, 1.0)


def load(path: str | Path, threads: int | None = None) -> OneGraph | SplitGraphs:
    """The exported model at ``path``: a ``.onnx`` file (one graph) or a split export's folder."""
    p = Path(path)
    if p.is_dir():
        return SplitGraphs(p, threads)
    if not p.is_file():
        raise FileNotFoundError(f"no exported model at {p}")
    return OneGraph(p, threads)


def read_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """An image file as ``(1, 3, H, W)`` float32 RGB in [0, 1] (EXIF-rotated; ``size``: shorter side in px)."""
    with Image.open(path) as im:
        rgb = (ImageOps.exif_transpose(im) or im).convert("RGB")
    if size is not None:
        w, h = rgb.size
        scale = size / min(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)
    return (np.asarray(rgb, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]


def save_image(image: np.ndarray, path: str | Path) -> None:
    """Write the first image of a ``(B, 3, H, W)`` (or a ``(3, H, W)``) array in [0, 1]."""
    a = image[0] if image.ndim == 4 else image
    Image.fromarray((np.clip(a, 0.0, 1.0).transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)).save(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 2 a bad input)."""
    p = argparse.ArgumentParser(description="Stylise an image with an ONNX export of adain-nst (no torch needed).")
    p.add_argument("model", help="the exported .onnx file, or the folder of a split export")
    p.add_argument("content", help="content image")
    p.add_argument("style", help="style image")
    p.add_argument("-o", "--out", required=True, help="output image (.png, .jpg ...)")
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    p.add_argument("--content-size", type=int, help="resize the content's shorter side to this many px")
    p.add_argument("--style-size", type=int, help="resize the style's shorter side to this many px")
    p.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    args = p.parse_args(argv)
    try:
        net = load(args.model, args.threads)
        out = net.stylize(
            read_image(args.content, args.content_size), read_image(args.style, args.style_size), args.alpha
        )
        save_image(out, args.out)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

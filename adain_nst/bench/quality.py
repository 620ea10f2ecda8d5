"""Output quality of the low-precision dtypes: PSNR of bf16 (fp16) stylisations against float32."""

from __future__ import annotations

import math
import os
import statistics
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..engine import runtime
from ..image import list_images, resize_shorter, to_tensor
from ..model import AdaINModel
from .run import build_model


def psnr(a: Tensor, b: Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of ``a`` against ``b`` in dB (``inf`` when equal); ``peak`` is the value range."""
    mse = float((a.double() - b.double()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def _square(path: Path, size: int) -> Tensor:
    x = resize_shorter(to_tensor(str(path))[0], size)
    return x[..., :size, :size].contiguous()


def eval_pairs(
    size: int, n: int, eval_dir: str | os.PathLike[str] | None = None
) -> tuple[list[Tensor], list[Tensor], str]:
    """``n`` (content, style) pairs of ``(1, 3, size, size)`` images in [0, 1] and what they are.

    The first ``n`` photos of ``eval_dir/content`` and paintings of ``eval_dir/style`` (resized,
    cropped square) when ``eval_dir`` is given, else seeded smooth random images.
    """
    if eval_dir is not None:
        root = Path(eval_dir)
        cs = list_images(root / "content", what="content")[:n]
        ss = list_images(root / "style", what="style")[:n]
        k = min(len(cs), len(ss))
        return [_square(p, size) for p in cs[:k]], [_square(p, size) for p in ss[:k]], f"{k} eval photo/painting pairs"
    g = torch.Generator().manual_seed(0)
    smooth = [torch.rand(1, 3, max(size // 16, 1), max(size // 16, 1), generator=g) for _ in range(2 * n)]
    imgs = [F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1) for x in smooth]
    return imgs[:n], imgs[n:], f"{n} random smooth image pairs (no --eval-dir given)"


def dtype_quality(
    model: AdaINModel,
    dtype: torch.dtype,
    *,
    size: int = 256,
    pairs: int = 4,
    device: str = "cpu",
    eval_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """PSNR of the engine's output in ``dtype`` against its float32 output, over :func:`eval_pairs`.

    Returns min/mean PSNR (dB) with peak 1 (outputs clamped to [0, 1], as users get them) and
    with peak = the float32 output's value range (meaningful for random weights, whose raw
    outputs are far from [0, 1]), plus ``dtype`` (the name), ``size`` (px) and ``images``.
    """
    contents, styles, source = eval_pairs(size, pairs, eval_dir)
    model = model.to(device)
    vals, vals_range = [], []
    with torch.inference_mode():
        fp32 = model.inference_engine(dtype=torch.float32)
        low_engine = model.inference_engine(dtype=dtype)
        for c, s in zip(contents, styles, strict=True):
            c, s = c.to(device), s.to(device)
            ref = fp32.stylize(c, [fp32.encode(s)], [1.0], 1.0)
            low = low_engine.stylize(c, [low_engine.encode(s)], [1.0], 1.0)
            vals.append(psnr(low.clamp(0, 1), ref.clamp(0, 1)))
            vals_range.append(psnr(low, ref, peak=float(ref.max() - ref.min())))
    return {
        "dtype": runtime.dtype_name(dtype),
        "size": size,
        "images": source,
        "psnr_db_min": min(vals),
        "psnr_db_mean": statistics.fmean(vals),
        "psnr_range_db_min": min(vals_range),
        "psnr_range_db_mean": statistics.fmean(vals_range),
    }


def quality_report(
    models: Sequence[str],
    devices: Sequence[str],
    *,
    cd16x_dir: str | os.PathLike[str] | None = None,
    eval_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`dtype_quality` of bf16 (and fp16 on CUDA) for each model and device at 256 px.

    6 image pairs for cd16x, 2 for the (slow when emulated, random-weight) full model.
    """
    rows = []
    for dev in devices:
        dtypes = [torch.bfloat16, torch.float16] if dev.startswith("cuda") else [torch.bfloat16]
        for name in models:
            model, source = build_model(name, weights_dir=cd16x_dir)
            for dt in dtypes:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16: slow, still right
                    q = dtype_quality(
                        model, dt, size=256, pairs=6 if name == "cd16x" else 2, device=dev, eval_dir=eval_dir
                    )
                rows.append({"model": name, "weights": source, "device": dev, **q})
    return rows


__all__ = ["dtype_quality", "eval_pairs", "psnr", "quality_report"]

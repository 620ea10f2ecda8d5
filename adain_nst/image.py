"""Image I/O and conversion between what users hold and model tensors.

Model tensors are float32 ``(B, 3, H, W)`` RGB in [0, 1]. Users may hold paths, PIL
images, numpy arrays (HWC or HW; uint8, uint16 or float in [0, 1]) or tensors
(CHW or BCHW float in [0, 1], or uint8). :func:`to_tensor` takes any of them and
:func:`from_tensor` gives back the kind the content came in as.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from ._io import atomic_write
from .errors import ImageReadError, InputError

ImageLike = str | os.PathLike | Image.Image | np.ndarray | Tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# Float inputs may carry rounding noise just outside [0, 1]; anything further out is
# almost always a 0-255 image or a normalised (mean/std) tensor passed by mistake.
_RANGE_SLACK = 1e-3


@dataclass(frozen=True)
class ImageKind:
    """How an input was given, so the result can be handed back the same way."""

    kind: str  # "pil" (also for paths), "numpy" or "tensor"
    dtype: Any = None
    batched: bool = False
    channels_last_2d: bool = False  # numpy HW (grayscale) input
    device: torch.device | None = None


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image file as an RGB PIL image.

    EXIF orientation is applied; transparency is composited on white; grayscale,
    palette, CMYK and 16-bit images are converted. Raises :class:`ImageReadError`
    for a missing, unreadable, truncated or empty file.
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"image file not found: {p}")
    if p.is_dir():
        raise ImageReadError(f"expected an image file, got a directory: {p}")
    try:
        with Image.open(p) as im:
            im.load()
            return to_rgb(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"not an image file (or a format Pillow cannot read): {p}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot read image {p} (truncated or corrupt?): {exc}") from None


def list_images(directory: str | os.PathLike[str], *, recursive: bool = False, what: str = "") -> list[Path]:
    """Image files (by suffix, see ``IMAGE_SUFFIXES``) in ``directory``, sorted.

    Raises :class:`InputError` if ``directory`` is not a folder or holds no images;
    ``what`` (e.g. ``"style"``) names the images in that message.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"not a directory: {d}")
    candidates = d.rglob("*") if recursive else d.iterdir()
    files = sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        kind = f"{what} images" if what else "images"
        raise InputError(f"no {kind} ({', '.join(IMAGE_SUFFIXES)}) found in directory {d}")
    return files


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB (EXIF-rotated, transparency on white)."""
    if im.width == 0 or im.height == 0:
        raise InputError(f"image has 0 pixels ({im.width}x{im.height})")
    im = ImageOps.exif_transpose(im) or im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        scale = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, mode="L")
    elif im.mode == "F":
        im = Image.fromarray(np.clip(np.asarray(im) * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def _check_finite_range(t: Tensor, name: str) -> None:
    if not torch.isfinite(t).all():
        raise InputError(f"{name} contains NaN or infinite values")
    lo, hi = float(t.min()), float(t.max())
    if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
        hint = " (it looks like 0-255 values: divide by 255)" if hi > 1.5 else ""
        raise InputError(f"{name} must hold values in [0, 1], got [{lo:.4g}, {hi:.4g}]{hint}")


def _numpy_to_tensor(arr: np.ndarray, name: str) -> Tensor:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"{name}: numpy images must be HxW or HxWxC with C in (1, 3, 4), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        x = torch.from_numpy(np.array(arr, copy=True)).float() / 255.0
    elif arr.dtype == np.uint16:
        x = torch.from_numpy(arr.astype(np.float32)) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        _check_finite_range(x, name)
    else:
        raise InputError(f"{name}: numpy dtype {arr.dtype} is not supported (use uint8, uint16 or float in [0, 1])")
    x = x.permute(2, 0, 1)
    if x.shape[0] == 4:  # composite on white, as for RGBA files
        x = x[:3] * x[3:] + (1 - x[3:])
    elif x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x.unsqueeze(0).contiguous()


def _tensor_to_tensor(t: Tensor, name: str) -> Tensor:
    if t.dim() not in (3, 4):
        raise InputError(f"{name}: tensors must be (3, H, W) or (B, 3, H, W), got shape {tuple(t.shape)}")
    x = t if t.dim() == 4 else t.unsqueeze(0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3:
        raise InputError(f"{name}: expected 3 (RGB) or 1 channel(s) in dim 1, got shape {tuple(t.shape)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        _check_finite_range(x, name)
    else:
        raise InputError(f"{name}: tensor dtype {t.dtype} is not supported (use float in [0, 1] or uint8)")
    return x


def to_tensor(image: ImageLike, name: str = "image") -> tuple[Tensor, ImageKind]:
    """Convert a path, PIL image, numpy array or tensor to ``(B, 3, H, W)`` float32 in [0, 1].

    Returns the tensor and an :class:`ImageKind` that :func:`from_tensor` uses to give the
    result back in the same form. ``name`` is used in error messages.
    """
    if isinstance(image, (str, os.PathLike)):
        pil = load_image(image)
        kind = ImageKind("pil")
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    elif isinstance(image, Image.Image):
        pil = to_rgb(image)
        kind = ImageKind("pil")
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    elif isinstance(image, np.ndarray):
        kind = ImageKind("numpy", dtype=image.dtype, channels_last_2d=image.ndim == 2)
        x = _numpy_to_tensor(image, name)
    elif isinstance(image, Tensor):
        kind = ImageKind("tensor", dtype=image.dtype, batched=image.dim() == 4, device=image.device)
        x = _tensor_to_tensor(image, name)
    else:
        raise InputError(
            f"{name}: unsupported type {type(image).__name__}; pass a path, PIL image, numpy array or torch tensor"
        )
    if x.shape[-1] == 0 or x.shape[-2] == 0 or x.shape[0] == 0:
        raise InputError(f"{name} has 0 pixels (shape {tuple(x.shape)})")
    return x, kind


def from_tensor(x: Tensor, kind: ImageKind) -> Any:
    """Inverse of :func:`to_tensor` for a result ``x`` (``(B, 3, H, W)``, clamped to [0, 1] here)."""
    x = x.detach().clamp(0.0, 1.0)
    if kind.kind == "tensor":
        out = x if kind.batched else x[0]
        if kind.dtype == torch.uint8:
            out = (out * 255.0).round().to(torch.uint8)
        elif kind.dtype is not None and kind.dtype.is_floating_point:
            out = out.to(kind.dtype)
        return out.to(kind.device) if kind.device is not None else out
    arr = x[0].permute(1, 2, 0).float().cpu().numpy()
    if kind.kind == "numpy":
        if kind.dtype == np.uint8:
            arr = (arr * 255.0 + 0.5).astype(np.uint8)
        elif kind.dtype == np.uint16:
            arr = (arr * 65535.0 + 0.5).astype(np.uint16)
        else:
            arr = arr.astype(kind.dtype)
        return arr
    return Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8), mode="RGB")


def resize_shorter(x: Tensor, size: int | None) -> Tensor:
    """Resize ``(B, C, H, W)`` so the shorter side is ``size`` px (bicubic, antialiased)."""
    if size is None:
        return x
    if int(size) < 16:
        raise InputError(f"size must be at least 16 px, got {size}")
    h, w = x.shape[-2:]
    scale = int(size) / min(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return x
    return F.interpolate(x, size=new, mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)


def save_image(image: Image.Image | Tensor | np.ndarray, path: str | os.PathLike[str], **save_kwargs: Any) -> Path:
    """Write an image atomically: to a temp file in the same folder, then rename.

    A crash or a bad format never leaves a half-written file at ``path``. Tensors must be
    ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] (clamped). The format follows the suffix.
    """
    path = Path(path)
    if isinstance(image, (Tensor, np.ndarray)):
        x, _ = to_tensor(image if isinstance(image, np.ndarray) else image.detach().cpu().clamp(0, 1), "image")
        image = from_tensor(x, ImageKind("pil"))
    if not isinstance(image, Image.Image):
        raise InputError(f"save_image expects a PIL image, tensor or numpy array, got {type(image).__name__}")
    try:
        fmt = Image.registered_extensions()[path.suffix.lower()]
    except KeyError:
        raise InputError(f"unknown image format for {path} (use a suffix such as .png or .jpg)") from None
    return atomic_write(path, lambda f: image.save(f, format=fmt, **save_kwargs))


def save_animation(
    frames: Sequence[Tensor],
    path: str | os.PathLike[str],
    *,
    frame_ms: int = 100,
    last_frame_ms: int = 1500,
) -> Path:
    """Write images as a looping animated GIF, atomically.

    Args:
        frames: ``(3, H, W)`` or ``(1, 3, H, W)`` tensors in [0, 1] (clamped); frames of other
            sizes (coarser scales) are resized to the last frame's size.
        path: output file; its suffix must be ``.gif``.
        frame_ms: display time of each frame, milliseconds.
        last_frame_ms: display time of the final frame, so the result can be seen.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    out = Path(path)
    if out.suffix.lower() != ".gif":
        raise InputError(f"the animation must be a .gif file, got {out}")
    if not frames:
        raise InputError("no frames to write")
    images = []
    for f in frames:
        x = f.detach().float().cpu()
        images.append(from_tensor(x if x.dim() == 4 else x.unsqueeze(0), ImageKind("pil")))
    size = images[-1].size
    images = [im if im.size == size else im.resize(size, Image.Resampling.BICUBIC) for im in images]
    durations = [frame_ms] * (len(images) - 1) + [last_frame_ms]
    return atomic_write(
        out,
        lambda fh: images[0].save(
            fh, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False
        ),
    )

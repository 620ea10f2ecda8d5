"""Image I/O and conversion between what users hold and model tensors.

Model tensors are float32 ``(B, 3, H, W)`` RGB in [0, 1]. Users may hold paths, PIL
images, numpy arrays (HWC or HW; uint8, uint16 or float in [0, 1]) or tensors
(CHW or BCHW float in [0, 1], or uint8). :func:`to_tensor` takes any of them and
:func:`from_tensor` gives back the kind the content came in as.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from ._checks import check_positive_int
from ._io import atomic_write
from .errors import ImageReadError, ImageTooLargeError, InputError

ImageLike = str | os.PathLike | Image.Image | np.ndarray | Tensor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

MAX_PIXELS: int | None = 200_000_000
"""Largest image (width x height, in pixels) read from a file or PIL image; bigger ones raise
:class:`~adain_nst.errors.ImageTooLargeError` from their header, before any decoding.

The override: ``adain_nst.image.MAX_PIXELS = 400_000_000`` (or ``None``: no limit) for the
process, or ``max_pixels=`` of :func:`load_image` / :func:`to_tensor` for one call. While
adain_nst opens a file this limit replaces Pillow's (``PIL.Image.MAX_IMAGE_PIXELS``).
"""

PixelLimit = int | None | Literal["default"]

# Pillow's bomb check reads one global; it is swapped for ours around each open (see _open).
_PIL_LIMIT_LOCK = threading.Lock()

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


def check_pixels(width: int, height: int, what: str, max_pixels: PixelLimit = "default") -> None:
    """Refuse an image whose declared ``width x height`` exceeds the pixel limit (see :data:`MAX_PIXELS`)."""
    limit = MAX_PIXELS if max_pixels == "default" else max_pixels
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"max_pixels must be a positive integer or None, got {limit!r}")
    if width * height > limit:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} px ({_amount(width * height)}), above the {_amount(limit)} limit: "
            "use a smaller image, or raise the limit with adain_nst.image.MAX_PIXELS = N "
            "(None: no limit) or max_pixels=N"
        )


def _amount(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 10**6 else f"{pixels} pixels"


@contextlib.contextmanager
def _pillow_limit_off() -> Iterator[None]:
    """Pillow's decompression-bomb check off (ours, :func:`check_pixels`, runs on the header instead)."""
    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _open(path: str | os.PathLike[str], max_pixels: PixelLimit) -> Image.Image:
    """The file opened lazily (only its header is read), its declared size checked."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"image file not found: {p}")
    if p.is_dir():
        raise ImageReadError(f"expected an image file, got a directory: {p}")
    try:
        with _pillow_limit_off():
            im = Image.open(p)
    except UnidentifiedImageError:
        raise ImageReadError(f"not an image file (or a format Pillow cannot read): {p}") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image {p} is too large: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot read image {p} (truncated or corrupt?): {exc}") from None
    try:
        if im.width == 0 or im.height == 0:
            raise ImageReadError(f"image {p} has 0 pixels ({im.width}x{im.height})")
        check_pixels(im.width, im.height, f"image {p}", max_pixels)
    except BaseException:
        im.close()
        raise
    return im


def image_size(path: str | os.PathLike[str], *, max_pixels: PixelLimit = "default") -> tuple[int, int]:
    """``(width, height)`` of an image file as displayed (EXIF rotation applied), from its header only."""
    with _open(path, max_pixels) as im:
        return _display_size(im)


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1: upright; 5..8 swap width and height)."""
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: exif_transpose will not rotate either
        return 1


def _display_size(im: Image.Image) -> tuple[int, int]:
    return (im.height, im.width) if _orientation(im) in (5, 6, 7, 8) else (im.width, im.height)


def load_image(
    path: str | os.PathLike[str], *, size: int | None = None, max_pixels: PixelLimit = "default"
) -> Image.Image:
    """Open an image file as an RGB PIL image.

    EXIF orientation is applied; transparency is composited on white; grayscale,
    palette, CMYK and 16-bit images are converted. Of an animation or a multi-page file the
    first frame is used, with a warning.

    Args:
        path: the file.
        size: the shorter side the caller will resize to: the file is then decoded at a
            reduced resolution where that is cheap (JPEG DCT scaling, then an integer box
            reduction), keeping the shorter side at least ``2 * size`` px, so a 12000 px photo
            asked at 512 px never exists at full size in memory. The exact resize is the
            caller's (:func:`to_tensor` with ``size=`` does it).
        max_pixels: the pixel limit (default :data:`MAX_PIXELS`, 200 MP), checked from the
            header before decoding; ``None`` for none.

    Raises:
        ImageReadError: a missing, unreadable, truncated or empty file.
        ImageTooLargeError: the header declares more than ``max_pixels`` pixels.
    """
    return _read(path, size, max_pixels)[0]


def _read(
    path: str | os.PathLike[str], size: int | None, max_pixels: PixelLimit
) -> tuple[Image.Image, tuple[int, int]]:
    """The RGB image (reduced for ``size``) and the file's full display size ``(width, height)``."""
    if size is not None:
        size = check_positive_int(size, "size")
    p = Path(path)
    with _open(p, max_pixels) as im:
        full = _display_size(im)
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            warnings.warn(
                f"{p} holds {frames} frames (an animation or a multi-page file): only the first is used",
                UserWarning,
                stacklevel=4,
            )
        try:
            if size is not None and min(im.size) >= 4 * size:
                scale = 2 * size / min(im.size)
                im.draft(None, (math.ceil(im.width * scale), math.ceil(im.height * scale)))  # JPEG only
            im.load()
            rgb = to_rgb(im)
        except InputError:
            raise
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"cannot read image {p} (truncated or corrupt?): {exc}") from None
    if size is not None and (factor := min(rgb.size) // (2 * size)) >= 2:
        rgb = rgb.reduce(factor)  # a box filter over factor x factor blocks: cheap and alias-free
    return rgb, full


def open_image(path: str | os.PathLike[str], *, max_pixels: PixelLimit = "default") -> Image.Image:
    """An image file decoded in its own mode (``"L"``, ``"P"``, ``"RGBA"``, ``"I;16"``...), EXIF-rotated.

    For inputs whose channels mean something other than colour (masks, label maps); errors as
    :func:`load_image`. Of an animation or a multi-page file the first frame is used.
    """
    p = Path(path)
    with _open(p, max_pixels) as im:
        try:
            im.load()
            out = im.copy()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"cannot read image {p} (truncated or corrupt?): {exc}") from None
    if _orientation(out) != 1:
        out = ImageOps.exif_transpose(out) or out
    return out


def list_images(directory: str | os.PathLike[str], *, recursive: bool = False, what: str = "") -> list[Path]:
    """Image files (by suffix, see ``IMAGE_SUFFIXES``) in ``directory``, sorted.

    Hidden files and folders (names starting with ``.``, such as macOS's AppleDouble
    ``._photo.jpg``) are skipped. Raises :class:`InputError` if ``directory`` is not a folder
    or holds no images; ``what`` (e.g. ``"style"``) names the images in that message.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"not a directory: {d}")
    candidates = d.rglob("*") if recursive else d.iterdir()
    files = sorted(
        p
        for p in candidates
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(d).parts)
        and p.is_file()
    )
    if not files:
        kind = f"{what} images" if what else "images"
        raise InputError(f"no {kind} ({', '.join(IMAGE_SUFFIXES)}) found in directory {d}")
    return files


def output_stems(paths: Sequence[Path]) -> list[str]:
    """A distinct name per input path, for naming outputs after inputs (``<content>_<style>.png``).

    The stem (``photo`` for ``photo.jpg``); where stems collide (``pic.jpg`` and ``pic.png``,
    compared case-insensitively as macOS and Windows file systems do) each of those keeps its
    suffix: ``pic_jpg``, ``pic_png``. Names that still collide (``pic.JPG`` and ``pic.jpg``)
    raise :class:`InputError` naming both files, before any work.
    """
    counts = Counter(p.stem.casefold() for p in paths)
    names = [p.stem if counts[p.stem.casefold()] == 1 else f"{p.stem}_{p.suffix.lstrip('.')}" for p in paths]
    seen: dict[str, Path] = {}
    for path, name in zip(paths, names, strict=True):
        other = seen.setdefault(name.casefold(), path)
        if other != path:
            raise InputError(f"{other} and {path} would give outputs of the same name ({name!r}): rename one of them")
    return names


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB (EXIF-rotated, transparency on white)."""
    if im.width == 0 or im.height == 0:
        raise InputError(f"image has 0 pixels ({im.width}x{im.height})")
    if _orientation(im) != 1:  # exif_transpose copies even an upright image: only call it when needed
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
    if arr.size == 0:
        raise InputError(f"{name} has 0 pixels (shape {arr.shape})")
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
    if x.numel() == 0:
        raise InputError(f"{name} has 0 pixels (shape {tuple(t.shape)})")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif x.is_floating_point():
        x = x.float()
        _check_finite_range(x, name)
    else:
        raise InputError(f"{name}: tensor dtype {t.dtype} is not supported (use float in [0, 1] or uint8)")
    return x


def to_tensor(
    image: ImageLike, name: str = "image", *, size: int | None = None, max_pixels: PixelLimit = "default"
) -> tuple[Tensor, ImageKind]:
    """Convert a path, PIL image, numpy array or tensor to ``(B, 3, H, W)`` float32 in [0, 1].

    Returns the tensor and an :class:`ImageKind` that :func:`from_tensor` uses to give the
    result back in the same form. ``name`` is used in error messages. ``size``: resize so the
    shorter side has this many px (as :func:`resize_shorter`; a file is decoded reduced first,
    see :func:`load_image`). ``max_pixels``: the limit for files and PIL images (default
    :data:`MAX_PIXELS`).
    """
    if size is not None:
        size = check_positive_int(size, f"{name} size")
    target: tuple[int, int] | None = None
    if isinstance(image, (str, os.PathLike)):
        pil, (w, h) = _read(image, size, max_pixels)
        target = None if size is None else shorter_side_dims(h, w, size)
        kind = ImageKind("pil")
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    elif isinstance(image, Image.Image):
        check_pixels(image.width, image.height, name, max_pixels)
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
    if size is not None:
        x = _resize_to(x, target or shorter_side_dims(*x.shape[-2:], size))
    return x, kind


def to_uint8_rgb(
    image: ImageLike, name: str = "image", *, max_pixels: PixelLimit = "default"
) -> tuple[Tensor, ImageKind] | None:
    """``(1, H, W, 3)`` uint8 RGB of a path, PIL image or ``HxWx3`` uint8 array, and its kind.

    3 bytes a pixel instead of :func:`to_tensor`'s 12: how tiled stylisation holds a big content
    (``x.float() / 255`` of it equals :func:`to_tensor`'s values). ``None`` for other inputs
    (floats, tensors, other layouts), which :func:`to_tensor` converts. File inputs are read as
    :func:`load_image` reads them (pixel limit, EXIF rotation, colour conversion).
    """
    if isinstance(image, (str, os.PathLike)):
        pil, _ = _read(image, None, max_pixels)
        arr = np.array(pil)  # a writable copy; the decoded image is dropped when this returns
        kind = ImageKind("pil")
    elif isinstance(image, Image.Image):
        check_pixels(image.width, image.height, name, max_pixels)
        arr = np.array(to_rgb(image))
        kind = ImageKind("pil")
    elif isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        if image.size == 0:
            raise InputError(f"{name} has 0 pixels (shape {image.shape})")
        arr = image if image.flags.c_contiguous and image.flags.writeable else np.array(image, order="C")
        kind = ImageKind("numpy", dtype=image.dtype)
    else:
        return None
    return torch.from_numpy(arr).unsqueeze(0), kind


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


def shorter_side_dims(height: int, width: int, size: int) -> tuple[int, int]:
    """``(new_height, new_width)`` that give the shorter side ``size`` px at the same aspect ratio."""
    scale = int(size) / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize_to(x: Tensor, dims: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == dims:
        return x
    return F.interpolate(x, size=dims, mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)


def resize_shorter(x: Tensor, size: int | None, *, minimum: int = 16) -> Tensor:
    """Resize ``(B, C, H, W)`` so the shorter side is ``size`` px (bicubic, antialiased).

    ``size`` must be an integer >= ``minimum`` (the model checks its own minimum; see
    :func:`adain_nst.pipeline.min_side`).
    """
    if size is None:
        return x
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InputError(f"size must be an integer, got {size!r}")
    if int(size) < minimum:
        raise InputError(f"size must be at least {minimum} px, got {size}")
    return _resize_to(x, shorter_side_dims(*x.shape[-2:], int(size)))


def save_image(image: Image.Image | Tensor | np.ndarray, path: str | os.PathLike[str], **save_kwargs: Any) -> Path:
    """Write an image atomically: to a temp file in the same folder, then rename.

    A crash, Ctrl-C or a bad format never leaves a half-written file at ``path``. Tensors and
    arrays are validated as :func:`adain_nst.stylize` validates its inputs (:func:`to_tensor`):
    ``(3, H, W)`` / ``(1, 3, H, W)`` tensors and ``HxW`` / ``HxWxC`` arrays, floats in [0, 1]
    (a 0-255 float tensor is refused with the hint to divide by 255), uint8/uint16 as they are.
    The format follows the suffix; a folder or an unknown suffix raises :class:`InputError`.
    """
    if (isinstance(path, str) and path.endswith(("/", os.sep))) or Path(path).is_dir():
        raise InputError(f"{path} is a folder: give a file name, e.g. {Path(path) / 'stylized.png'}")
    path = Path(path)
    try:
        fmt = Image.registered_extensions()[path.suffix.lower()]
    except KeyError:
        raise InputError(f"unknown image format for {path} (use a suffix such as .png or .jpg)") from None
    if isinstance(image, (Tensor, np.ndarray)):
        data = image.detach().cpu() if isinstance(image, Tensor) else image
        x, _ = to_tensor(data, "the image to save")
        if x.shape[0] != 1:
            raise InputError(f"save_image writes one image; got a batch of {x.shape[0]} (save each x[i])")
        image = from_tensor(x, ImageKind("pil"))
    if not isinstance(image, Image.Image):
        raise InputError(f"save_image expects a PIL image, tensor or numpy array, got {type(image).__name__}")
    if image.width == 0 or image.height == 0:
        raise InputError(f"the image to save has 0 pixels ({image.width}x{image.height})")
    pil = image
    return atomic_write(path, lambda f: pil.save(f, format=fmt, **save_kwargs))


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


__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "ImageKind",
    "ImageLike",
    "check_pixels",
    "from_tensor",
    "image_size",
    "list_images",
    "load_image",
    "open_image",
    "output_stems",
    "resize_shorter",
    "save_animation",
    "save_image",
    "shorter_side_dims",
    "to_rgb",
    "to_tensor",
    "to_uint8_rgb",
]

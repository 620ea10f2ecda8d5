"""Region masks for spatial control: read, validate, fit to the content, resize per level; label maps.

A mask is a weight map in [0, 1], one per region (one per style of a masked call): binary or soft,
of any size with the content's aspect ratio (it is resized to the content, then to every feature
level). Accepted kinds: a path, a PIL image, a numpy array or a tensor (see :func:`load_mask`).

Coverage, decided once here:

* where masks overlap so that their sum exceeds 1, each pixel's weights are divided by their sum;
* where the sum is below 1 (pixels no mask covers, soft edges towards nothing), the content
  keeps the remaining weight: **uncovered pixels are not stylised**. A ``None`` style marks a
  region that keeps the content explicitly (it counts in the overlap normalisation).

Problems raise :class:`~adain_nst.errors.MaskError` (an ``InputError``, so a ``ValueError``)
naming the mask: wrong count, NaN, values out of [0, 1], an empty region, a wrong shape or
aspect ratio; an unreadable file raises :class:`~adain_nst.errors.ImageReadError`.

A label map is one image whose distinct values (integer labels) or colours name the regions;
:func:`masks_from_labels` splits it into binary masks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from .errors import MaskError
from .image import ImageLike, open_image

MaskLike = ImageLike
"""A mask: a path, PIL image, numpy array (``H x W``) or tensor (``H x W``), binary or in [0, 1]."""

Label = int | tuple[int, int, int]
"""A region of a label map: an integer label, or an ``(r, g, b)`` colour."""

ASPECT_TOLERANCE = 0.02
"""Largest relative difference of a mask's aspect ratio from the content's (it is then stretched)."""

MAX_LABELS = 256
"""Most distinct values a label map may hold when its labels are not named (``labels=None``)."""

# Float masks may carry rounding noise just outside [0, 1] (as images; see adain_nst.image).
_RANGE_SLACK = 1e-3


# -- one mask ---------------------------------------------------------------------------------------------
def _from_pil(im: Image.Image, name: str) -> Tensor:
    """A PIL image as ``(H, W)`` weights: its alpha where it has real transparency, else its luma."""
    if im.width == 0 or im.height == 0:
        raise MaskError(f"{name} has 0 pixels ({im.width}x{im.height})")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            return torch.from_numpy(alpha.astype(np.float32) / 255.0)
        im = im.convert("RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return torch.from_numpy(np.asarray(im, dtype=np.float32) / 65535.0)
    if im.mode in ("I", "F"):
        return _from_numpy(np.asarray(im), name)
    return torch.from_numpy(np.asarray(im.convert("L"), dtype=np.float32) / 255.0)


def _from_numpy(arr: np.ndarray, name: str) -> Tensor:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise MaskError(
            f"{name}: a numpy mask must be H x W (one weight per pixel), got shape {arr.shape}; "
            "for a colour image of regions use a label map (adain_nst.masks.masks_from_labels)"
        )
    if arr.dtype == np.bool_:
        return torch.from_numpy(arr.astype(np.float32))
    if arr.dtype == np.uint8:
        return torch.from_numpy(arr.astype(np.float32) / 255.0)
    if arr.dtype == np.uint16:
        return torch.from_numpy(arr.astype(np.float32) / 65535.0)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise MaskError(
                f"{name}: an integer mask of dtype {arr.dtype} must hold 0 and 1, got values in "
                f"[{arr.min()}, {arr.max()}] (uint8 masks use 0..255)"
            )
        return torch.from_numpy(arr.astype(np.float32))
    if np.issubdtype(arr.dtype, np.floating):
        return _check_range(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), name)
    raise MaskError(f"{name}: numpy dtype {arr.dtype} is not supported (use bool, uint8, uint16 or float in [0, 1])")


def _from_tensor(t: Tensor, name: str) -> Tensor:
    x = t.detach()
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise MaskError(f"{name}: a mask tensor must be (H, W), (1, H, W) or (1, 1, H, W), got {tuple(t.shape)}")
    x = x.cpu()
    if x.dtype == torch.bool:
        return x.float()
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.is_floating_point():
        return _check_range(x.float(), name)
    if not x.is_complex():
        return _from_numpy(x.numpy(), name)
    raise MaskError(f"{name}: tensor dtype {t.dtype} is not supported (use bool, uint8 or float in [0, 1])")


def _check_range(x: Tensor, name: str) -> Tensor:
    if not torch.isfinite(x).all():
        raise MaskError(f"{name} contains NaN or infinite values")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -_RANGE_SLACK or hi > 1 + _RANGE_SLACK:
            hint = " (it looks like 0-255 values: divide by 255)" if hi > 1.5 else ""
            raise MaskError(f"{name} must hold weights in [0, 1], got [{lo:.4g}, {hi:.4g}]{hint}")
    return x.clamp(0.0, 1.0)


def load_mask(mask: MaskLike, name: str = "mask") -> Tensor:
    """One mask as ``(H, W)`` float32 weights in [0, 1].

    Args:
        mask: a path (any image file: a transparent PNG gives its alpha, anything else its
            luma, 0..255 -> 0..1), a PIL image (the same rule), a numpy array ``H x W`` (bool;
            uint8 0..255; uint16; other integers 0/1; float in [0, 1]) or a tensor ``(H, W)``,
            ``(1, H, W)`` or ``(1, 1, H, W)`` (bool, uint8 or float in [0, 1]).
        name: how messages call it (``"mask 1"``).

    Raises:
        MaskError: NaN, values out of [0, 1], a wrong shape or an unsupported type.
        ImageReadError: a missing or unreadable file.
    """
    if isinstance(mask, (str, os.PathLike)):
        x = _from_pil(open_image(mask), f"{name} ({mask})")
    elif isinstance(mask, Image.Image):
        x = _from_pil(mask, name)
    elif isinstance(mask, np.ndarray):
        x = _from_numpy(mask, name)
    elif isinstance(mask, Tensor):
        x = _from_tensor(mask, name)
    else:
        raise MaskError(
            f"{name}: unsupported type {type(mask).__name__}; pass a path, PIL image, numpy array or tensor"
        )
    if x.numel() == 0:
        raise MaskError(f"{name} has 0 pixels (shape {tuple(x.shape)})")
    return x.contiguous()


# -- a set of masks ---------------------------------------------------------------------------------------
def mask_list(masks: Any) -> list[Any]:
    """``masks`` as a list of single masks: a sequence, or a ``(K, H, W)`` array or ``(K, H, W)`` /
    ``(1, K, H, W)`` tensor (one mask per ``k``). A single ``(H, W)`` array, tensor, PIL image or
    path is one mask.
    """
    if isinstance(masks, Tensor):
        if masks.dim() == 4 and masks.shape[0] == 1:
            masks = masks[0]
        return list(masks) if masks.dim() == 3 else [masks]
    if isinstance(masks, np.ndarray):
        return list(masks) if masks.ndim == 3 and masks.shape[-1] not in (1, 3, 4) else [masks]
    if isinstance(masks, (str, os.PathLike, Image.Image)):
        return [masks]
    if isinstance(masks, Sequence):
        return list(masks)
    raise MaskError(f"masks must be a list with one mask per style, got {type(masks).__name__}")


def check_mask_count(masks: Any, n_styles: int) -> list[Any]:
    """The list of ``masks`` if it holds one mask per style, else :class:`MaskError` saying so."""
    items = mask_list(masks)
    if len(items) != n_styles:
        raise MaskError(
            f"got {len(items)} mask(s) for {n_styles} style(s): pass one mask per style, in the same order "
            "(a None style marks a region that keeps the content)"
        )
    for i, m in enumerate(items):
        if m is None:
            raise MaskError(f"mask {i} is None: every region needs a mask (a None *style* keeps the content)")
    return items


def load_masks(masks: Any, n_styles: int) -> list[Tensor]:
    """Every mask read and checked (:func:`check_mask_count`, :func:`load_mask`), each ``(H, W)``, at its own size.

    Called before any model loads, so a bad mask fails first.
    """
    loaded = [load_mask(m, f"mask {i}") for i, m in enumerate(check_mask_count(masks, n_styles))]
    for i, m in enumerate(loaded):
        if float(m.sum()) <= 0.0:
            raise MaskError(f"mask {i} is empty (all 0): every region needs some pixels; drop its style or draw it")
    return loaded


def fit_masks(masks: Sequence[Tensor], size: tuple[int, int], *, device: torch.device | str | None = None) -> Tensor:
    """Masks resized to the content's ``size`` ``(H, W)`` and normalised where they overlap.

    Args:
        masks: ``(h, w)`` weights in [0, 1] (:func:`load_masks`); each must have the content's
            aspect ratio within :data:`ASPECT_TOLERANCE` (resized bilinearly, antialiased).
        size: the content's ``(H, W)``.
        device: where the result lives.

    Returns:
        ``(1, K, H, W)`` float32 with ``sum_k m_k <= 1`` at every pixel (an overlap summing above 1
        is divided by its sum; below 1 the content keeps the rest).

    Raises:
        MaskError: a different aspect ratio, or a region that vanishes at the content's size.
    """
    h, w = int(size[0]), int(size[1])
    fitted = []
    for i, m in enumerate(masks):
        mh, mw = m.shape[-2:]
        if abs((mw / mh) / (w / h) - 1.0) > ASPECT_TOLERANCE:
            raise MaskError(
                f"mask {i} is {mw}x{mh} px ({mw / mh:.3g}:1) but the content is {w}x{h} px ({w / h:.3g}:1): "
                "a mask must have the content's aspect ratio"
            )
        x = m.to(device=device, dtype=torch.float32).view(1, 1, mh, mw)
        if (mh, mw) != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
        if float(x.sum()) < 0.5:
            raise MaskError(f"mask {i} is empty at the content's size ({w}x{h} px): its region is under one pixel")
        fitted.append(x)
    out = torch.cat(fitted, dim=1)
    return out / out.sum(1, keepdim=True).clamp_min(1.0)


def prepare_masks(
    masks: Any, n_styles: int, size: tuple[int, int], *, device: torch.device | str | None = None
) -> Tensor:
    """:func:`load_masks` then :func:`fit_masks`: anything accepted in, ``(1, K, H, W)`` weights out."""
    return fit_masks(load_masks(masks, n_styles), size, device=device)


def resize_masks(masks: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B, K, H, W)`` masks at another size ``(h, w)``: area averages when shrinking, bilinear when growing.

    Area averaging keeps each region's share of every output cell, so masks that sum to at most
    1 still do; it is how a mask reaches a feature level (``size`` = the feature map's).
    """
    h, w = int(size[0]), int(size[1])
    if tuple(masks.shape[-2:]) == (h, w):
        return masks
    if h <= masks.shape[-2] and w <= masks.shape[-1]:
        return F.interpolate(masks, size=(h, w), mode="area")
    return F.interpolate(masks, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


# -- label maps -------------------------------------------------------------------------------------------
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_label(text: str) -> Label:
    """``"3"`` -> ``3``; ``"#ff8800"`` or ``"#f80"`` -> ``(255, 136, 0)``."""
    t = text.strip()
    if re.fullmatch(r"\d+", t):
        return int(t)
    match = _HEX.fullmatch(t)
    if match is None or not t.startswith("#"):
        raise MaskError(f"a label is an integer (3) or a colour (#ff8800), got {text!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return (r, g, b)


def format_label(label: Label) -> str:
    """``3`` -> ``"3"``, ``(255, 136, 0)`` -> ``"#ff8800"``."""
    if isinstance(label, tuple):
        return "#" + "".join(f"{v:02x}" for v in label)
    return str(label)


def _label_array(label_map: Any, want_colours: bool) -> np.ndarray:
    """``(H, W)`` integer labels or ``(H, W, 3)`` uint8 colours."""
    if isinstance(label_map, (str, os.PathLike)):
        label_map = open_image(label_map)
    if isinstance(label_map, Image.Image):
        im = label_map
        if im.mode == "P" and not want_colours:
            return np.asarray(im).astype(np.int64)
        if im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(im.convert("L") if im.mode in ("1", "LA") else im).astype(np.int64)
        if im.mode == "F":
            label_map = np.asarray(im)
        else:
            return np.asarray(im.convert("RGB"))
    if isinstance(label_map, Tensor):
        t = label_map.detach().cpu()
        if t.dim() == 3 and t.shape[0] in (3, 4) and t.dtype == torch.uint8:
            return t[:3].permute(1, 2, 0).numpy()
        label_map = t.numpy()
    if not isinstance(label_map, np.ndarray):
        raise MaskError(
            f"label map: unsupported type {type(label_map).__name__}; pass a path, PIL image, numpy array or tensor"
        )
    arr = label_map
    if arr.ndim == 3 and arr.shape[2] in (3, 4) and arr.dtype == np.uint8:
        return arr[:, :, :3]
    if arr.ndim != 2:
        raise MaskError(f"label map must be H x W integer labels or H x W x 3 uint8 colours, got shape {arr.shape}")
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    raise MaskError(f"label map values must be integers (labels) or uint8 colours, got dtype {arr.dtype}")


def masks_from_labels(label_map: Any, labels: Sequence[Label] | None = None) -> tuple[list[Tensor], list[Label]]:
    """One binary mask per region of a label map (one image whose values or colours name the regions).

    Args:
        label_map: a path or PIL image (grey and 16-bit images: integer labels; a palette
            image: its palette indices, or its colours when ``labels`` are colours; RGB: colours),
            a numpy array (``H x W`` integers, or ``H x W x 3`` uint8 colours) or a tensor
            (``(H, W)`` integers, or ``(3, H, W)`` uint8 colours). Save drawn maps losslessly
            (PNG): JPEG noise makes thousands of colours.
        labels: the regions in order, one per style: integers or ``(r, g, b)`` colours (see
            :func:`parse_label`). Pixels with any other label are covered by no mask (they keep
            the content). ``None``: every label present, ascending (colours by their hex code).

    Returns:
        ``(masks, labels)``: ``(H, W)`` float32 masks of 0 and 1, and the labels they stand for.

    Raises:
        MaskError: a label that does not occur, more than :data:`MAX_LABELS` labels, bad values.
    """
    wanted = None if labels is None else list(labels)
    want_colours = bool(wanted) and all(isinstance(x, tuple) for x in wanted)
    arr = _label_array(label_map, want_colours)
    colour = arr.ndim == 3
    keys = (arr[..., 0].astype(np.int64) << 16) | (arr[..., 1].astype(np.int64) << 8) | arr[..., 2] if colour else arr
    present = np.unique(keys)

    def to_label(k: int) -> Label:
        return (int(k >> 16) & 255, int(k >> 8) & 255, int(k) & 255) if colour else int(k)

    if wanted is None:
        if len(present) > MAX_LABELS:
            kind = "colours" if colour else "values"
            raise MaskError(
                f"the label map holds {len(present)} distinct {kind} (at most {MAX_LABELS}): a label map is "
                "flat colours or integers; save it losslessly (PNG, not JPEG)"
            )
        wanted = [to_label(int(k)) for k in present]
    masks = []
    shown = ", ".join(format_label(to_label(int(k))) for k in present[:20]) + (" ..." if len(present) > 20 else "")
    for lab in wanted:
        if isinstance(lab, tuple) != colour:
            kind = "(r, g, b) colours such as #ff8800" if colour else "integers"
            raise MaskError(f"label {format_label(lab)}: this label map's labels are {kind}; it holds {shown}")
        key = (lab[0] << 16) | (lab[1] << 8) | lab[2] if isinstance(lab, tuple) else int(lab)
        m = keys == key
        if not m.any():
            raise MaskError(f"label {format_label(lab)} does not occur in the label map; it holds {shown}")
        masks.append(torch.from_numpy(m.astype(np.float32)))
    return masks, wanted


__all__ = [
    "ASPECT_TOLERANCE",
    "MAX_LABELS",
    "Label",
    "MaskLike",
    "check_mask_count",
    "fit_masks",
    "format_label",
    "load_mask",
    "load_masks",
    "mask_list",
    "masks_from_labels",
    "parse_label",
    "prepare_masks",
    "resize_masks",
]

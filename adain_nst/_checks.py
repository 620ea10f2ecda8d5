"""One vocabulary of argument checks: every entry point validates with the same words.

Each check raises :class:`~adain_nst.errors.InputError` naming the argument, what was
given and what is accepted.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from .errors import InputError


def _is_bool(x: object) -> bool:
    """A Python or numpy boolean."""
    return isinstance(x, bool) or type(x).__name__ in ("bool_", "bool")


def _is_number(x: object) -> bool:
    """A real number (int, float, numpy or 0-d tensor scalar), not a string or a boolean."""
    if _is_bool(x) or isinstance(x, (str, bytes)):
        return False
    if isinstance(x, numbers.Real):
        return True
    return isinstance(x, Tensor) and x.numel() == 1 and x.dtype != torch.bool and not x.dtype.is_complex


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``alpha`` as a float in [0, 1]; strings, booleans, NaN and out-of-range values are refused."""
    refused = _is_bool(alpha) or isinstance(alpha, (str, Tensor)) or not hasattr(alpha, "__float__")
    if not _is_number(alpha) and refused:
        raise InputError(f"{name} must be a number in [0, 1], got {alpha!r}")
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1], got {alpha!r}") from None
    if not 0.0 <= a <= 1.0:  # also rejects NaN
        raise InputError(f"{name} must be in [0, 1], got {alpha!r}")
    return a


def check_style_weights(weights: Sequence[float] | None, n_styles: int) -> list[float]:
    """Interpolation weights (one per style, finite, >= 0, not all 0) scaled to sum 1.

    ``None`` gives equal weights.
    """
    if weights is None:
        return [1.0 / n_styles] * n_styles
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
        raise InputError(f"style_weights must be a sequence of numbers, got {weights!r}")
    items = list(weights)
    if any(not _is_number(x) for x in items):
        raise InputError(f"style_weights must be numbers (not strings or booleans), got {items!r}")
    try:
        w = [float(x) for x in items]
    except (TypeError, ValueError):
        raise InputError(f"style_weights must be numbers, got {items!r}") from None
    if len(w) != n_styles:
        raise InputError(f"style_weights has {len(w)} entries but {n_styles} style(s) were given")
    if any(not (x >= 0.0) or x == float("inf") for x in w):
        raise InputError(f"style_weights must be finite and >= 0, got {items}")
    total = sum(w)
    if total <= 0:
        raise InputError("style_weights must not all be 0")
    return [x / total for x in w]


def check_image_batch(x: object, name: str = "image") -> Tensor:
    """``x`` if it is a ``(B, 3, H, W)`` tensor with at least one pixel, else :class:`InputError`."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{name} must be a (B, 3, H, W) tensor, got {shape}")
    if x.numel() == 0:
        raise InputError(f"{name} has 0 pixels (shape {tuple(x.shape)})")
    return x


def check_layers(layers: Sequence[str], available: Sequence[str], what: str = "this encoder") -> list[str]:
    """``layers`` as a list if every name is in ``available``; the message lists what exists."""
    if isinstance(layers, str):
        raise InputError(f"layers must be a sequence of names, not the string {layers!r}")
    names = list(layers)
    missing = [n for n in names if n not in available]
    if missing:
        span = f"{available[0]} .. {available[-1]}" if available else "no layers"
        raise InputError(f"unknown layer(s) {missing} for {what}; it has {span}")
    return names


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``; booleans, floats (``256.7``, also ``256.0``) and strings are refused.

    numpy integers are accepted.
    """
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_size(value: object, name: str) -> int | None:
    """An optional size in px (``content_size``, ``style_size``): ``None`` or an integer >= 1."""
    return None if value is None else check_positive_int(value, name)


__all__ = [
    "check_alpha",
    "check_image_batch",
    "check_layers",
    "check_positive_int",
    "check_size",
    "check_style_weights",
]

"""Exceptions raised by adain_nst.

Every error subclasses the Python built-in it means, so ``except ValueError`` or
``except FileNotFoundError`` in user code keeps working:

* :class:`InputError` (``ValueError``): an argument, image or tensor the caller passed is unusable;
* :class:`ImageTooLargeError` (an :class:`InputError`): an image declares more pixels than the limit;
* :class:`MemoryBudgetError` (an :class:`InputError`): ``max_memory`` is below what even the
  smallest tile needs; the message states that minimum;
* :class:`MaskError` (an :class:`InputError`): a region mask or label map is unusable (count, NaN,
  range, empty region, shape); an unreadable mask *file* raises :class:`ImageReadError`;
* :class:`ImageReadError` (``OSError``): an *image file* is missing, unreadable or truncated;
* :class:`CheckpointError` (``OSError``): a *weights file* is missing, unreadable or truncated;
* :class:`ConfigError` (``ValueError``): a config or state dict does not describe a model we can build;
* :class:`WeightsNotFoundError` (``FileNotFoundError``): weights are neither cached nor downloadable;
* :class:`ChecksumError` (``OSError``): a weights file is not the one the registry records;
* :class:`DeviceError` (``RuntimeError``): the requested device or precision is not available here;
* :class:`VideoReadError` (``OSError``): a *video file* is missing, unreadable or not a video;
* :class:`ExportError` (``ValueError``): a model or transform cannot be written as the asked-for graph;
* :class:`MissingDependencyError` (``ImportError``): an optional extra (``video``, ``onnx``) is not installed.
"""

from __future__ import annotations


class AdainNSTError(Exception):
    """Base class of every error raised on purpose by adain_nst."""


class InputError(AdainNSTError, ValueError):
    """An image, tensor or option passed by the user is unusable (shape, dtype, range, NaN...)."""


class ImageTooLargeError(InputError):
    """An image declares more pixels than :data:`adain_nst.image.MAX_PIXELS` (checked from its header)."""


class MemoryBudgetError(InputError):
    """``max_memory`` is too small for the call even in the smallest tiles; the message says the minimum."""


class MaskError(InputError):
    """A region mask (``masks=``) or label map is unusable: wrong count, NaN, out of [0, 1], empty, bad shape."""


class ImageReadError(AdainNSTError, OSError):
    """An image file is missing, unreadable, truncated or not an image."""


class CheckpointError(AdainNSTError, OSError):
    """A checkpoint (weights) file is missing, unreadable or truncated."""


class ConfigError(AdainNSTError, ValueError):
    """A config.json or checkpoint does not describe a model this library can build."""


class WeightsNotFoundError(AdainNSTError, FileNotFoundError):
    """Weights are not in the local cache and cannot be downloaded."""


class ChecksumError(AdainNSTError, OSError):
    """A weights file does not have the sha256 digest recorded for it."""


class DeviceError(AdainNSTError, RuntimeError):
    """The requested device (or a precision on it) is not available on this machine."""


class VideoReadError(AdainNSTError, OSError):
    """A video file is missing, unreadable, truncated or has no video track."""


class ExportError(AdainNSTError, ValueError):
    """A model or transform cannot be exported as asked (e.g. WCT as one ONNX graph)."""


class MissingDependencyError(AdainNSTError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def one_line(value: object) -> str:
    """``str(value)`` on one line (messages of library errors may span several); the type's name if empty."""
    return " ".join(str(value).split()) or type(value).__name__


__all__ = [
    "AdainNSTError",
    "CheckpointError",
    "ChecksumError",
    "ConfigError",
    "DeviceError",
    "ExportError",
    "ImageReadError",
    "ImageTooLargeError",
    "InputError",
    "MaskError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "VideoReadError",
    "WeightsNotFoundError",
    "one_line",
]

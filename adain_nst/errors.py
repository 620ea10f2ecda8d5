"""Exceptions raised by adain_nst.

Every error subclasses a Python built-in so that ``except ValueError`` or
``except FileNotFoundError`` in user code keeps working.
"""

from __future__ import annotations


class AdainNSTError(Exception):
    """Base class of every error raised on purpose by adain_nst."""


class InputError(AdainNSTError, ValueError):
    """An image, tensor or option passed by the user is unusable (shape, dtype, range, NaN...)."""


class ImageReadError(AdainNSTError, OSError):
    """An image file is missing, unreadable, truncated or not an image."""


class ConfigError(AdainNSTError, ValueError):
    """A config.json or checkpoint does not describe a model this library can build."""


class WeightsNotFoundError(AdainNSTError, FileNotFoundError):
    """Weights are not in the local cache and cannot be downloaded."""


class ChecksumError(AdainNSTError, OSError):
    """A weights file does not have the sha256 digest recorded for it."""

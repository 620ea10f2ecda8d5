"""Optional dependencies, imported on first use so that ``import adain_nst`` never needs them."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .errors import MissingDependencyError

EXTRAS = {"av": "video", "cv2": "video", "onnx": "onnx", "onnxruntime": "onnx", "onnxscript": "onnx"}
"""Which ``pip install "adain-nst[EXTRA]"`` brings each optional module."""

_PIP_NAMES = {"av": "av", "cv2": "opencv-python-headless"}


def require(module: str, extra: str | None = None) -> ModuleType:
    """``import module``, or :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or EXTRAS.get(module, "")
        hint = f'pip install "adain-nst[{extra}]"' if extra else f"pip install {_PIP_NAMES.get(module, module)}"
        raise MissingDependencyError(
            f"{_PIP_NAMES.get(module, module)} is needed for this but is not installed: {hint}"
        ) from exc


def available(module: str) -> bool:
    """Whether ``module`` imports (without importing it twice: a cached import is reused)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def version_of(module: Any) -> str:
    """A module's ``__version__`` (or ``"?"``)."""
    return str(getattr(module, "__version__", "?"))


__all__ = ["EXTRAS", "available", "require", "version_of"]

"""The weights shipped inside the package (``adain_nst/_weights``): paths, verified once per process."""

from __future__ import annotations

import functools
from pathlib import Path

from .._io import sha256_file
from ..errors import ChecksumError, WeightsNotFoundError
from .registry import BUNDLED_DIR, FileRecord

ROOT = Path(__file__).resolve().parents[1] / BUNDLED_DIR


@functools.cache
def _verified(path: Path, sha256: str | None) -> None:
    if sha256 is not None and (actual := sha256_file(path)) != sha256:
        raise ChecksumError(
            f"bundled weights {path} have sha256 {actual}, not the recorded {sha256}: "
            "the installation is damaged; reinstall adain-nst (pip install --force-reinstall adain-nst)"
        )


def bundled_path(record: FileRecord) -> Path:
    """Local path of a bundled file, checked against its recorded sha256 (once per process)."""
    path = ROOT / record.name
    if not path.is_file():
        raise WeightsNotFoundError(
            f"the bundled weights {record.name} are missing from the installed package ({path}); "
            "reinstall adain-nst (a source checkout needs `python weights/convert_bundled.py`)"
        )
    _verified(path, record.sha256)
    return path


__all__ = ["ROOT", "bundled_path"]

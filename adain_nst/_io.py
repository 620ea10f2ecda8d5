"""File writing that never leaves a half-written file, and file digests: one home for each."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    A crash, an exception in ``write`` or Ctrl-C leaves either the old file or none, never a
    truncated one, and no temporary file behind. The result gets the permissions a plain
    ``open()`` would give (``0o666`` minus the umask), and missing parent folders are made.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_dir():
        raise IsADirectoryError(f"{final} is a folder; give a file name")
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # O_EXCL keeps the (random) name ours; mode 0o666 lets the umask decide, as open() would.
        # Created inside the try: an exception raised by a signal handler (SIGINT, and SIGTERM
        # in the CLI) right after the open still removes it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: f.write(data))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces (1 MiB keeps memory flat; ~1 s per 550 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


__all__ = ["atomic_write", "atomic_write_bytes", "sha256_file"]

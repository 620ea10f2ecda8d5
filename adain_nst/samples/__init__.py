"""Sample photos and paintings shipped with the package (public domain / CC0; see README.md here).

>>> from adain_nst import samples
>>> samples.names("style")[:2]
['kandinsky_composition_vii', 'monet_etretat']
>>> samples.path("astronaut").name
'astronaut.jpg'

Pass the paths anywhere an image path is accepted (``adain_nst.stylize(samples.path("chelsea"),
samples.path("monet_etretat"))``). The provenance table is :func:`provenance`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import InputError

KINDS = ("content", "style")


def _folder(kind: str) -> Path:
    if kind not in KINDS:
        raise InputError(f"sample kind must be one of {KINDS}, got {kind!r}")
    return Path(str(files(__name__).joinpath(kind)))


def names(kind: str = "content") -> list[str]:
    """Names of the bundled ``"content"`` photos or ``"style"`` paintings, sorted."""
    return sorted(p.stem for p in _folder(kind).glob("*.jpg"))


def path(name: str) -> Path:
    """The file of the sample called ``name`` (a content or a style name, with or without ``.jpg``)."""
    stem = name.removesuffix(".jpg")
    for kind in KINDS:
        candidate = _folder(kind) / f"{stem}.jpg"
        if candidate.is_file():
            return candidate
    known = ", ".join(names("content") + names("style"))
    raise InputError(f"no bundled sample called {name!r}; the samples are: {known}")


def provenance() -> str:
    """The samples' README: source and licence of every image (Markdown)."""
    return files(__name__).joinpath("README.md").read_text(encoding="utf-8")


__all__ = ["KINDS", "names", "path", "provenance"]

"""The plan of a dataset job: which outputs, with which style, in which batch, on which rank.

Everything here is a pure function of the inputs' relative paths, their sizes and the job's
options, never of the order files were listed in, the number of workers or processes, or
where a previous run stopped:

* **assignment**: the styles of a content image are drawn by a generator seeded with
  ``sha256(seed, relative path)`` (:func:`assign_styles`);
* **names**: ``DST/<relative folder>/<stem><suffix><ext>`` with ``suffix`` ``_s<k>`` when
  there are several outputs per image (:func:`output_name`); two outputs that would share a
  name (compared case-insensitively) are refused before any work;
* **batches**: items are sorted by the content's size after resizing, then by path, and cut
  into batches of ``batch_size`` within each size (:func:`make_batches`); batch ``i`` of the
  whole job runs on rank ``i mod world_size`` (:func:`shard`). An image is therefore always
  computed in the same batch, which is what makes outputs identical across process counts,
  backends and resumes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..image import shorter_side_dims

FORMATS = ("jpg", "png", "webp", "bmp", "tif")
"""Output formats ``--format`` converts to; ``None`` keeps each input's format."""


@dataclass(frozen=True)
class Item:
    """One output: ``content`` (relative to SRC) stylised with ``style`` (relative to the style folder).

    ``index`` is k of the content's N outputs; ``output`` is relative to DST; ``size`` is the
    ``(height, width)`` the content is stylised at (its bucket).
    """

    content: str
    index: int
    style: str
    output: str
    size: tuple[int, int]


@dataclass(frozen=True)
class Batch:
    """Items of one size, computed together; ``number`` is the batch's place in the whole job."""

    number: int
    items: tuple[Item, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.items[0].size


def item_seed(seed: int, relpath: str) -> int:
    """A 64-bit seed for ``relpath`` (POSIX, relative) in a job seeded with ``seed``."""
    digest = hashlib.sha256(f"adain-nst-dataset\0{int(seed)}\0{relpath}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def assign_styles(seed: int, relpath: str, n_styles: int, per_image: int) -> list[int]:
    """Indices of the ``per_image`` distinct styles (of ``n_styles``) for the content ``relpath``."""
    if per_image > n_styles:
        raise InputError(f"--styles-per-image {per_image} exceeds the {n_styles} style image(s) available")
    return random.Random(item_seed(seed, relpath)).sample(range(n_styles), per_image)


def output_name(relpath: str, index: int, per_image: int, fmt: str | None) -> str:
    """The output's path relative to DST (POSIX) for output ``index`` of the content ``relpath``."""
    p = PurePosixPath(relpath)
    suffix = f"_s{index}" if per_image > 1 else ""
    ext = p.suffix if fmt is None else f".{fmt}"
    return str(p.with_name(f"{p.stem}{suffix}{ext}"))


def check_format(fmt: str | None) -> str | None:
    """``fmt`` normalised (``"jpeg"`` -> ``"jpg"``), or ``None``; unknown formats raise :class:`InputError`."""
    if fmt is None:
        return None
    f = fmt.lower().lstrip(".")
    f = {"jpeg": "jpg", "tiff": "tif"}.get(f, f)
    if f not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)} (or keep the input's)")
    return f


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form (the key of manifests and assignment)."""
    return path.relative_to(root).as_posix()


def plan_items(
    contents: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    styles: Sequence[str],
    *,
    per_image: int,
    seed: int,
    fmt: str | None,
    content_size: int | None,
) -> list[Item]:
    """Every output of the job, in content order; ``sizes`` are the contents' ``(width, height)``.

    Raises :class:`InputError` if two outputs would get the same name (case-insensitively).
    """
    items: list[Item] = []
    seen: dict[str, str] = {}
    for rel, (w, h) in zip(contents, sizes, strict=True):
        dims = (h, w) if content_size is None else shorter_side_dims(h, w, content_size)
        for k, s in enumerate(assign_styles(seed, rel, len(styles), per_image)):
            out = output_name(rel, k, per_image, fmt)
            other = seen.setdefault(out.casefold(), rel)
            if other != rel:
                raise InputError(
                    f"{other} and {rel} would both be written as {out}: keep the input format (no --format) "
                    "or rename one of them"
                )
            items.append(Item(rel, k, styles[s], out, dims))
    return items


def make_batches(items: Sequence[Item], batch_size: int) -> list[Batch]:
    """Items grouped by size (sorted), then by path, in batches of at most ``batch_size``."""
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    ordered = sorted(items, key=lambda it: (it.size, it.content, it.index))
    batches: list[Batch] = []
    run: list[Item] = []
    for it in ordered:
        if run and (it.size != run[0].size or len(run) == batch_size):
            batches.append(Batch(len(batches), tuple(run)))
            run = []
        run.append(it)
    if run:
        batches.append(Batch(len(batches), tuple(run)))
    return batches


def shard(batches: Sequence[Batch], rank: int, world_size: int) -> list[Batch]:
    """The batches rank ``rank`` of ``world_size`` computes: every ``world_size``-th, from ``rank``."""
    if not 0 <= rank < world_size:
        raise InputError(f"rank {rank} is outside a world of {world_size}")
    return [b for b in batches if b.number % world_size == rank]


__all__ = [
    "FORMATS",
    "Batch",
    "Item",
    "assign_styles",
    "check_format",
    "item_seed",
    "make_batches",
    "output_name",
    "plan_items",
    "relative",
    "shard",
]

"""Training images: a folder of pictures and the deterministic batch for each step.

Every random choice at step ``k`` (images and crops) is drawn from generators seeded with
``(seed, k)`` and ``(seed, epoch)``, so a run resumed from a checkpoint sees exactly the
batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import functools
import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import ImageReadError, InputError
from ..image import list_images, load_image

CONTENT_STREAM = 0
STYLE_STREAM = 1


class ImageFolder:
    """Images of a folder (recursively), resized so the shorter side is ``size`` px, as uint8 CHW tensors.

    Unreadable files are skipped with a warning and counted in :attr:`skipped`. With
    ``cache`` the decoded, resized images are kept in memory.
    """

    def __init__(self, directory: str | os.PathLike[str], size: int, cache: bool = True) -> None:
        self.directory = Path(directory)
        self.files = list_images(directory, recursive=True)
        self.size = size
        self.cache: dict[int, Tensor] | None = {} if cache else None
        self.bad: set[int] = set()

    @property
    def skipped(self) -> int:
        """Number of files found unreadable so far."""
        return len(self.bad)

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int) -> Tensor | None:
        """Image ``index`` as ``(3, H, W)`` uint8 with ``min(H, W) == size``, or ``None`` if unreadable."""
        if index in self.bad:
            return None
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        try:
            im = load_image(self.files[index])
        except (ImageReadError, InputError) as exc:
            self.bad.add(index)
            warnings.warn(f"skipping unreadable training image: {exc}", stacklevel=2)
            return None
        scale = self.size / min(im.size)
        new = (max(self.size, round(im.width * scale)), max(self.size, round(im.height * scale)))
        im = im.resize(new, resample=3)  # bicubic
        t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()
        if self.cache is not None:
            self.cache[index] = t
        return t


@functools.lru_cache(maxsize=8)
def epoch_permutation(n: int, seed: int, epoch: int, stream: int) -> tuple[int, ...]:
    """The order in which epoch ``epoch`` of ``stream`` visits ``n`` images (cached)."""
    # Cached: every image of a batch needs it, and shuffling 1k+ indices per image adds up.
    perm = list(range(n))
    random.Random(f"{seed}:epoch{epoch}:{stream}").shuffle(perm)
    return tuple(perm)


def sample_batch(folder: ImageFolder, batch: int, crop: int, seed: int, step: int, stream: int) -> Tensor:
    """Deterministic batch for ``step``: an infinite shuffled pass over ``folder`` plus random crops.

    Epoch ``e`` visits the images in a permutation seeded by ``(seed, e, stream)``; the crops
    come from a generator seeded by ``(seed, step, stream)``. ``stream`` keeps the content
    (:data:`CONTENT_STREAM`) and style (:data:`STYLE_STREAM`) draws apart.

    Returns:
        ``(batch, 3, crop, crop)`` float32 in [0, 1].
    """
    n = len(folder)
    rng = random.Random(f"{seed}:{step}:{stream}")
    out: list[Tensor] = []
    position = step * batch
    while len(out) < batch:
        epoch, offset = divmod(position, n)
        image = folder.get(epoch_permutation(n, seed, epoch, stream)[offset])
        position += 1
        if image is None:
            if folder.skipped >= n:
                raise InputError(f"no readable images in {folder.directory}")
            continue
        _, h, w = image.shape
        top, left = rng.randint(0, h - crop), rng.randint(0, w - crop)
        out.append(image[:, top : top + crop, left : left + crop])
    return torch.stack(out).float().div_(255.0)


__all__ = ["CONTENT_STREAM", "STYLE_STREAM", "ImageFolder", "epoch_permutation", "sample_batch"]

"""Training images: resizing, skipping unreadable files, deterministic per-step batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adain_nst import InputError
from adain_nst.train import ImageFolder, sample_batch
from adain_nst.train.data import CONTENT_STREAM, STYLE_STREAM, epoch_permutation

from .helpers import write_images


def test_images_are_resized_to_the_shorter_side_and_cached(tmp_path: Path) -> None:
    folder = ImageFolder(write_images(tmp_path / "a", 3, 0), size=20)
    assert len(folder) == 3 and folder.skipped == 0
    image = folder.get(2)  # 64 x 40 -> 32 x 20
    assert image is not None and image.dtype == torch.uint8 and tuple(image.shape) == (3, 20, 32)
    assert folder.get(2) is image  # cached
    assert ImageFolder(tmp_path / "a", size=20, cache=False).get(2) is not image


def test_batches_are_a_function_of_seed_step_and_stream(tmp_path: Path) -> None:
    folder = ImageFolder(write_images(tmp_path / "a", 5, 0), size=24)
    batch = sample_batch(folder, 3, 16, seed=0, step=4, stream=CONTENT_STREAM)
    assert batch.shape == (3, 3, 16, 16) and batch.dtype == torch.float32
    assert batch.min() >= 0.0 and batch.max() <= 1.0
    fresh = ImageFolder(tmp_path / "a", size=24, cache=False)
    assert torch.equal(batch, sample_batch(fresh, 3, 16, seed=0, step=4, stream=CONTENT_STREAM))
    assert not torch.equal(batch, sample_batch(folder, 3, 16, seed=0, step=5, stream=CONTENT_STREAM))
    assert not torch.equal(batch, sample_batch(folder, 3, 16, seed=0, step=4, stream=STYLE_STREAM))
    assert not torch.equal(batch, sample_batch(folder, 3, 16, seed=1, step=4, stream=CONTENT_STREAM))


def test_every_epoch_visits_every_image_once() -> None:
    perms = [epoch_permutation(7, 0, e, CONTENT_STREAM) for e in range(3)]
    assert all(sorted(p) == list(range(7)) for p in perms)
    assert len(set(perms)) > 1  # reshuffled per epoch


def test_unreadable_files_are_skipped_then_refused_when_none_is_left(tmp_path: Path) -> None:
    root = write_images(tmp_path / "a", 2, 0)
    (root / "broken.png").write_bytes(b"not a png")
    folder = ImageFolder(root, size=24)
    with pytest.warns(UserWarning, match="unreadable"):
        batch = sample_batch(folder, 3, 16, seed=0, step=0, stream=CONTENT_STREAM)
    assert batch.shape[0] == 3 and folder.skipped == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="no readable images"):
        sample_batch(ImageFolder(bad, size=24), 2, 16, seed=0, step=0, stream=CONTENT_STREAM)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        ImageFolder(tmp_path / "empty", size=24)

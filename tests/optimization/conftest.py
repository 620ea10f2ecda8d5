"""Fixtures of the Gatys tests: one small encoder per module, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from adain_nst import VGGEncoder

from .helpers import small_encoder


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """These tensors are tiny: extra threads only fight the other jobs on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def enc() -> VGGEncoder:
    """The small relu5_1 encoder (:func:`helpers.small_encoder`), shared within a module."""
    return small_encoder()

"""Shared fixtures. Data beside the repository is found through ADAIN_NST_TEST_DATA.

`.ci/run` sets ADAIN_NST_TEST_DATA=../shared; without it, tests that need the real
weights, golden tensors or eval images skip and say what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ENV = "ADAIN_NST_TEST_DATA"


def _shared_root() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value).resolve() if value else None


def _need(sub: str) -> Path:
    root = _shared_root()
    if root is None:
        pytest.skip(f"{ENV} is not set: point it at the shared data folder (e.g. ../shared) to run this test")
    path = root / sub
    if not path.exists():
        pytest.skip(f"{path} is missing ({ENV}={root})")
    return path


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """``$ADAIN_NST_TEST_DATA/golden``: reference inputs, random weights and outputs."""
    return _need("golden")


@pytest.fixture(scope="session")
def cd16x_dir() -> Path:
    """``$ADAIN_NST_TEST_DATA/weights/cd16x``: real pretrained cd16x encoders/decoders."""
    return _need("weights/cd16x")


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """``$ADAIN_NST_TEST_DATA/data/eval``: the standard AdaIN test photos and paintings."""
    return _need("data/eval")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)

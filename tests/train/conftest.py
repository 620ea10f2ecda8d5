"""Fixtures of the training tests: two small picture folders and a tiny encoder file."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import he_encoder, save_encoder, write_images


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Path]:
    """``content`` (4 pictures), ``style`` (3), ``encoder`` (to relu4_1, safetensors) and ``root``."""
    return {
        "content": write_images(tmp_path / "content", 4, 1),
        "style": write_images(tmp_path / "style", 3, 2),
        "encoder": save_encoder(he_encoder(), tmp_path / "encoder.safetensors"),
        "root": tmp_path,
    }

"""Shared fixtures and markers.

Data beside the repository is found through ADAIN_NST_TEST_DATA (`.ci/run` sets it to
../shared); without it, tests that need the real weights, golden tensors or eval images skip
and say what is missing. Markers (select with ``-m``): ``data`` (needs that folder; added
automatically to tests using the data fixtures), ``slow``, ``cuda`` (skipped without a GPU).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from adain_nst import AdaINModel, Decoder, DecoderConfig, EncoderConfig, VGGEncoder
from adain_nst.architecture import LEVELS, block_of

ENV = "ADAIN_NST_TEST_DATA"
DATA_FIXTURES = {"golden_dir", "cd16x_dir", "eval_dir", "shared_dir"}
TINY_WIDTHS = (4, 8, 16, 32, 32)


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
        if item.get_closest_marker("cuda") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``$ADAIN_NST_TEST_DATA`` itself."""
    return _need(".")


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


def make_tiny_model(
    level: str = "relu4_1",
    *,
    widths: tuple[int, ...] = TINY_WIDTHS,
    encoder_last: str | None = None,
    variant: str = "normalized",
    final_relu: bool = False,
    seed: int = 0,
) -> AdaINModel:
    """A random-weight model with small widths: encoder up to ``encoder_last`` (default ``level``)."""
    torch.manual_seed(seed)
    enc = VGGEncoder(EncoderConfig(widths=widths, last_layer=encoder_last or level, variant=variant))
    dec = Decoder(DecoderConfig(widths=widths[: block_of(level)], final_relu=final_relu, level=level))
    return AdaINModel(enc, dec).eval()


def he_tiny_pairs() -> dict[str, AdaINModel]:
    """Tiny random pairs at every level, He-initialised (PyTorch's default init gives near-flat features)."""
    pairs = {lvl: make_tiny_model(lvl, seed=i) for i, lvl in enumerate(LEVELS)}
    with torch.no_grad():
        for pair in pairs.values():
            for m in pair.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
    return pairs


@pytest.fixture(scope="session")
def tiny_model() -> Callable[..., AdaINModel]:
    """The factory :func:`make_tiny_model`: ``tiny_model(level="relu4_1", widths=..., ...)``."""
    return make_tiny_model


def make_png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width x height`` RGB pixels (its data is one empty row).

    Opening it is instant (only the header is read); decoding it would need ``3 * width * height`` bytes.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def png_declaring() -> Callable[[int, int], bytes]:
    """The function :func:`make_png_declaring`: ``png_declaring(w, h)`` gives the file's bytes."""
    return make_png_declaring


@pytest.fixture
def declared_png(tmp_path: Path) -> Callable[[int, int], Path]:
    """Factory: ``declared_png(w, h)`` writes :func:`make_png_declaring` to a new file and returns its path."""

    def make(width: int, height: int) -> Path:
        path = tmp_path / f"declared_{width}x{height}.png"
        path.write_bytes(make_png_declaring(width, height))
        return path

    return make

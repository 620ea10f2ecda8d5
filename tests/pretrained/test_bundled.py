"""Weights bundled in the package: present and verified, loaded without the network, close to the originals."""

from __future__ import annotations

import math
import shutil
import socket
from pathlib import Path

import pytest
import torch

import adain_nst
from adain_nst import AdaINModel, ChecksumError, EncoderConfig, WeightsNotFoundError, samples
from adain_nst._io import sha256_file
from adain_nst.optimization import resolve_encoder
from adain_nst.pretrained import bundled, hub, registry
from adain_nst.pretrained.registry import BUNDLED_FILES, DEFAULT_MODEL, REGISTRY


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to reach the Hub (a probe or a download) is recorded and fails."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(hub, "hf_hub_download", refuse)
    hub._reachable.cache_clear()
    return attempts


@pytest.mark.parametrize("key", sorted(BUNDLED_FILES))
def test_every_bundled_file_is_there_with_its_digest(key: str) -> None:
    record = BUNDLED_FILES[key]
    path = bundled.ROOT / record.name
    assert path.stat().st_size == record.size
    assert sha256_file(path) == record.sha256
    assert (bundled.ROOT / "cd16x" / "LICENSE").read_text().startswith("MIT License")


def test_default_model_is_bundled_and_loads_offline(no_network: list[str]) -> None:
    assert REGISTRY[DEFAULT_MODEL].is_bundled
    model = adain_nst.load_model()
    out = adain_nst.stylize(samples.path("chelsea"), samples.path("monet_etretat"), content_size=64, model=model)
    assert out.size == (96, 64)
    assert adain_nst.load_model("cd16x-recon").level == "relu4_1"
    assert no_network == []


def test_gatys_default_encoder_is_the_bundled_imagenet_vgg19(no_network: list[str]) -> None:
    encoder = resolve_encoder(None)
    assert encoder.config == EncoderConfig(widths=(64, 128, 256, 512, 512), last_layer="relu5_1", variant="caffe")
    fast = resolve_encoder("cd16x-e5")
    assert fast.config.last_layer == "relu5_1" and fast.config.widths == (16, 32, 64, 128, 128)
    assert no_network == []


def test_download_of_a_bundled_model_touches_nothing(no_network: list[str]) -> None:
    assert hub.download("cd16x-adain") == bundled.ROOT
    assert no_network == []


def test_a_damaged_bundled_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / "weights"
    shutil.copytree(bundled.ROOT, copy)
    target = copy / BUNDLED_FILES["d4-adain"].name
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    monkeypatch.setattr(bundled, "ROOT", copy)
    bundled._verified.cache_clear()
    with pytest.raises(ChecksumError, match="reinstall adain-nst"):
        AdaINModel.from_pretrained("cd16x-adain")
    bundled._verified.cache_clear()


def test_hub_only_model_fails_at_once_and_names_the_bundled_alternative(no_network: list[str]) -> None:
    spec = registry.get_spec("vgg19-adain")
    assert not spec.is_bundled
    with pytest.raises(WeightsNotFoundError, match=r"bundled with the package.*cd16x-adain"):
        adain_nst.load_model("someorg/some-model")
    assert len(no_network) == 1  # one probe, no retries, no download attempt


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def test_float16_storage_stays_within_50_db_of_the_originals(cd16x_dir: Path) -> None:
    original = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    shipped = adain_nst.load_model("cd16x-recon")
    content, style = samples.path("coffee"), samples.path("van_gogh_wheat_field_with_cypresses")
    a = original.stylize(str(content), str(style), content_size=256, style_size=256)
    b = shipped.stylize(str(content), str(style), content_size=256, style_size=256)
    from_pil = adain_nst.image.to_tensor
    assert _psnr(from_pil(a)[0], from_pil(b)[0]) >= 50.0

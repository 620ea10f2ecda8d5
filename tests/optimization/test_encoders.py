"""Encoders for Gatys: torchvision ImageNet VGG files (registry records, loader, checks) and resolve_encoder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from adain_nst import ChecksumError, ConfigError, InputError, VGGEncoder
from adain_nst.architecture import layer_names
from adain_nst.optimization import (
    DEFAULT_ENCODER,
    TORCHVISION_ARCHS,
    encoder_family,
    gatys,
    load_torchvision_vgg,
    resolve_encoder,
    torchvision_weights,
)
from adain_nst.pretrained.formats import torchvision_encoder_keys
from adain_nst.pretrained.registry import ENCODER_WEIGHTS, encoder_weights_for_file

from .helpers import small_encoder, smooth_image, texture_image


# -- torchvision ImageNet VGG weights ------------------------------------------------------------
def test_torchvision_weights_metadata() -> None:
    for arch, spec in {a: torchvision_weights(a) for a in TORCHVISION_ARCHS}.items():
        assert spec.arch == arch
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.url == f"https://download.pytorch.org/models/{spec.filename}"
        # torchvision names files <arch>-<first 8 hex of the sha256>.pth
        assert spec.filename == f"{arch}-{spec.sha256[:8]}.pth"
        assert spec.num_bytes > 500_000_000


def test_torchvision_records_are_the_registry_s() -> None:
    for arch in TORCHVISION_ARCHS:
        spec = torchvision_weights(arch)
        assert ENCODER_WEIGHTS[f"torchvision-{arch}"] is spec
        assert encoder_weights_for_file(spec.filename) is spec
        assert spec.variant == "imagenet"


def _torchvision_state_dict(
    arch: str, dtype: torch.dtype = torch.float32, widths: tuple[int, ...] = (64, 128, 256, 512, 512)
) -> dict[str, torch.Tensor]:
    """Random weights in torchvision's vgg16/vgg19 key layout, classifier included."""
    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    cin = 3
    for index, name in torchvision_encoder_keys(arch).items():
        cout = widths[int(name[4]) - 1]
        sd[f"features.{index}.weight"] = (torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5).to(dtype)
        sd[f"features.{index}.bias"] = torch.zeros(cout, dtype=dtype)
        cin = cout
    for i, (n_in, n_out) in {0: (8, 4), 3: (4, 4), 6: (4, 10)}.items():  # shrunken classifier
        sd[f"classifier.{i}.weight"] = torch.randn(n_out, n_in, generator=g).to(dtype)
        sd[f"classifier.{i}.bias"] = torch.zeros(n_out, dtype=dtype)
    return sd


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
def test_load_torchvision_layout(tmp_path: Path, arch: str) -> None:
    sd = _torchvision_state_dict(arch, torch.float16)  # half the bytes to write; loaded as float32
    path = tmp_path / torchvision_weights(arch).filename
    torch.save(sd, path)
    with pytest.raises(ChecksumError, match="expected " + torchvision_weights(arch).sha256):
        load_torchvision_vgg(path, arch=arch)
    enc = load_torchvision_vgg(path, arch=arch, check_sha256=False)
    assert enc.config.variant == "imagenet" and enc.config.arch == arch and enc.config.last_layer == "relu5_1"
    assert enc.layer_names == layer_names(arch)[: layer_names(arch).index("relu5_1") + 1]
    # torchvision's features index of conv4_2: 19 in VGG-16 (3 convs in block 3), 21 in VGG-19.
    index = {"vgg16": 19, "vgg19": 21}[arch]
    torch.testing.assert_close(enc.convs["conv4_2"].weight, sd[f"features.{index}.weight"].float())
    assert encoder_family(enc) == "imagenet"
    out = gatys(smooth_image(1, 32), texture_image(2, 32), encoder=enc, steps=2, progress=False)
    assert out.shape == (1, 3, 32, 32)
    # As an encoder= path: the published file name is checked, any other name is not, and the
    # architecture is told apart by the feature indices.
    with pytest.raises(ChecksumError):
        resolve_encoder(path)
    renamed = path.rename(tmp_path / "my-vgg.pth")
    assert resolve_encoder(renamed).config.arch == arch


def test_load_torchvision_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="arch"):
        load_torchvision_vgg(tmp_path / "x.pth", arch="vgg11")
    with pytest.raises(
        FileNotFoundError, match=re.escape("download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth")
    ):
        load_torchvision_vgg(tmp_path / "missing.pth")


def test_load_torchvision_refuses_the_other_arch(tmp_path: Path) -> None:
    path = tmp_path / "vgg16-small.pth"
    torch.save(_torchvision_state_dict("vgg16", widths=(4, 8, 8, 8, 8)), path)
    assert load_torchvision_vgg(path, arch="vgg16", check_sha256=False).config.arch == "vgg16"
    with pytest.raises(ConfigError, match="holds a torchvision vgg16, not vgg19"):
        load_torchvision_vgg(path, arch="vgg19", check_sha256=False)


# -- resolve_encoder ------------------------------------------------------------------------------
def test_resolve_encoder_reads_our_layout_and_passes_names_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = small_encoder()
    assert resolve_encoder(enc) is enc
    path = tmp_path / "enc.pth"
    torch.save(enc.state_dict(), path)  # our own key layout
    loaded = resolve_encoder(path)
    assert loaded.config == enc.config
    torch.testing.assert_close(loaded.convs["conv5_1"].weight, enc.convs["conv5_1"].weight)
    # Anything that is not a file is a registry name, Hub repo or folder: only the encoder is fetched.
    asked: list[str] = []
    monkeypatch.setattr(VGGEncoder, "from_pretrained", classmethod(lambda cls, name: asked.append(name) or enc))
    assert resolve_encoder(None) is enc and resolve_encoder("cd16x-adain") is enc
    assert asked == [DEFAULT_ENCODER, "cd16x-adain"]

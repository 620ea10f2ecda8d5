"""Encoder/decoder architecture, key mapping of the reference and cd16x layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adain_nst import ConfigError, Decoder, DecoderConfig, EncoderConfig, InputError, VGGEncoder, layer_names
from adain_nst.checkpoints import reference_decoder_keys, reference_encoder_keys

SMALL = EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="relu5_1")


def test_layer_names_of_vgg19() -> None:
    names = layer_names()
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert sum(n.startswith("conv") for n in names) == 16
    assert sum(n.startswith("conv") for n in layer_names("vgg16")) == 13


def test_reference_index_mapping_matches_the_sequential_layout() -> None:
    enc = reference_encoder_keys()
    assert [enc[i] for i in (0, 2, 5, 9, 12, 16, 29, 42)] == [
        "conv0", "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv4_1", "conv5_1",
    ]  # fmt: skip
    assert list(reference_decoder_keys()) == [1, 5, 8, 11, 14, 18, 21, 25, 28]


def test_feature_shapes_and_ceil_mode_pooling() -> None:
    encoder = VGGEncoder(SMALL)
    feats = encoder(torch.rand(2, 3, 36, 20), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
    assert feats["relu1_1"].shape == (2, 4, 36, 20)
    assert feats["relu4_1"].shape == (2, 8, 5, 3)  # 36 -> 18 -> 9 -> 5 (ceil), 20 -> 10 -> 5 -> 3
    assert feats["relu5_1"].shape == (2, 8, 3, 2)
    assert all((f >= 0).all() for f in feats.values())


def test_encoder_stops_at_the_deepest_requested_layer() -> None:
    encoder = VGGEncoder(SMALL)
    ran: list[str] = []
    for name, conv in encoder.convs.items():
        conv.register_forward_hook(lambda *_, n=name: ran.append(n))
    encoder(torch.rand(1, 3, 16, 16), ("relu2_1",))
    assert ran == ["conv1_1", "conv1_2", "conv2_1"]


def test_conv_output_is_not_overwritten_by_inplace_relu() -> None:
    encoder = VGGEncoder(SMALL)
    feats = encoder(torch.rand(1, 3, 16, 16) * 2 - 1, ("conv1_1", "relu1_1"))
    torch.testing.assert_close(feats["relu1_1"], feats["conv1_1"].clamp_min(0))
    assert (feats["conv1_1"] < 0).any()


def test_unknown_or_missing_layer_is_a_clear_error() -> None:
    encoder = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="relu4_1"))
    with pytest.raises(InputError, match="relu5_1"):
        encoder(torch.rand(1, 3, 16, 16), ("relu5_1",))
    with pytest.raises(InputError, match="relu9_9"):
        encoder(torch.rand(1, 3, 16, 16), ("relu9_9",))
    with pytest.raises(ConfigError):
        EncoderConfig(variant="caffe")


def test_decoder_upsamples_by_8_and_final_relu_option() -> None:
    for final_relu in (False, True):
        decoder = Decoder(DecoderConfig(widths=(4, 8, 8, 8), final_relu=final_relu))
        out = decoder(torch.rand(2, 8, 3, 5))
        assert out.shape == (2, 3, 24, 40)
        assert bool((out >= 0).all()) if final_relu else bool((out < 0).any())


def test_imagenet_variant_normalises_inside() -> None:
    encoder = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), variant="imagenet", arch="vgg16"))
    assert not hasattr(encoder, "conv0")
    assert encoder(torch.rand(1, 3, 16, 16))["relu4_1"].shape == (1, 8, 2, 2)


def test_cd16x_checkpoints_load_with_their_widths(cd16x_dir: Path) -> None:
    e4 = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / "e4.pth")
    e5 = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / "e5.pth")
    d4 = Decoder.from_cd16x_checkpoint(cd16x_dir / "d4.pth")
    assert e4.config.last_layer == "relu4_1" and e5.config.last_layer == "relu5_1"
    assert e4.config.widths[:4] == (16, 32, 64, 128) == d4.config.widths
    assert d4.config.final_relu
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert d4(e4(x)["relu4_1"]).shape == (1, 3, 32, 32)


def test_reference_encoder_accepts_layers_past_relu4_1(golden_dir: Path) -> None:
    sd = torch.load(golden_dir / "vgg_relu4_1.pth", weights_only=True)
    extra = dict(sd)
    extra["32.weight"] = torch.zeros(512, 512, 3, 3, dtype=torch.float16)  # conv4_2 as in vgg_normalised
    extra["32.bias"] = torch.zeros(512, dtype=torch.float16)
    full = VGGEncoder.from_reference_checkpoint(extra)
    assert full.config.last_layer == "relu4_2"
    trunc = VGGEncoder.from_reference_checkpoint(extra, last_layer="relu4_1")
    assert trunc.config.last_layer == "relu4_1" and all(p.dtype == torch.float32 for p in trunc.parameters())
    with pytest.raises(ConfigError, match="unexpected key"):
        VGGEncoder.from_reference_checkpoint({**sd, "99.weight": torch.zeros(1)})

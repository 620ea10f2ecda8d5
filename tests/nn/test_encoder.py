"""VGGEncoder: shapes, early stop, in-place ReLU safety, variants, cd16x checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adain_nst import ConfigError, EncoderConfig, InputError, VGGEncoder
from adain_nst.architecture import CAFFE_MEAN_BGR, IMAGENET_MEAN, IMAGENET_STD

SMALL = EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="relu5_1")


def test_feature_shapes_and_ceil_mode_pooling() -> None:
    encoder = VGGEncoder(SMALL)
    feats = encoder(torch.rand(2, 3, 36, 20), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
    assert feats["relu1_1"].shape == (2, 4, 36, 20)
    assert feats["relu4_1"].shape == (2, 8, 5, 3)
    assert feats["relu5_1"].shape == (2, 8, 3, 2)
    assert all((f >= 0).all() for f in feats.values())
    assert encoder.channels["relu1_1"] == 4 and encoder.channels["pool4"] == 8


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
    with pytest.raises(ConfigError, match="cannot be cut"):
        encoder.config.upto("relu5_1")


def test_fixed_input_maps_of_the_imagenet_and_caffe_variants() -> None:
    x = torch.rand(1, 3, 8, 8)
    tv = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), variant="imagenet", arch="vgg16"))
    assert not hasattr(tv, "conv0") and "input_weight" not in tv.state_dict()
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(tv.preprocess(x), (x - mean) / std)
    assert tv(torch.rand(1, 3, 16, 16))["relu4_1"].shape == (1, 8, 2, 2)
    caffe = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), variant="caffe"))
    bgr = x.flip(1) * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    torch.testing.assert_close(caffe.preprocess(x), bgr)


def test_zero_padding_of_the_imagenet_variant() -> None:
    enc = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="conv1_1", variant="imagenet"))
    conv = enc.convs["conv1_1"]
    x = torch.rand(1, 3, 6, 6)
    expected = torch.nn.functional.conv2d(enc.preprocess(x), conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(enc(x, ("conv1_1",))["conv1_1"], expected)


def test_cd16x_encoders_load_with_their_widths_and_depths(cd16x_dir: Path) -> None:
    for k in range(1, 6):
        enc = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / f"e{k}.pth")
        assert enc.config.last_layer == f"relu{k}_1"
    e1 = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / "e1.pth")
    assert e1.config.widths[0] == 24  # cd16x e1 alone has 24 channels in conv1_1
    e4 = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / "e4.pth")
    assert e4.config.widths[:4] == (16, 32, 64, 128)
    assert not any(p.requires_grad for p in e4.parameters())


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

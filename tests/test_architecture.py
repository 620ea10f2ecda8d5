"""The one architecture description (adain_nst.architecture): op lists, sizes, stride, receptive field, FLOPs."""

from __future__ import annotations

import pytest
import torch

from adain_nst import ConfigError, Decoder, DecoderConfig, EncoderConfig, VGGEncoder, layer_names
from adain_nst.architecture import (
    LEVELS,
    block_of,
    conv_costs,
    decoder_conv_names,
    decoder_ops,
    encoder_ops,
    flops,
    output_size,
    receptive_field,
    sequential_indices,
    stride,
)

WIDTHS = (4, 8, 12, 16, 20)


def test_layer_names_of_vgg19_and_vgg16() -> None:
    names = layer_names()
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert sum(n.startswith("conv") for n in names) == 16
    assert sum(n.startswith("conv") for n in layer_names("vgg16")) == 13
    with pytest.raises(ConfigError, match="vgg11"):
        layer_names("vgg11")


def test_encoder_ops_follow_the_variant() -> None:
    norm = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu2_1"))
    assert [op.name for op in norm] == [
        "conv0",
        "conv1_1",
        "relu1_1",
        "conv1_2",
        "relu1_2",
        "pool1",
        "conv2_1",
        "relu2_1",
    ]
    assert {op.padding for op in norm if op.kind == "conv"} == {"reflect"}
    assert all(op.ceil for op in norm if op.kind == "pool")
    for variant in ("imagenet", "caffe"):
        ops = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu2_1", variant=variant))
        assert ops[0].name == "input"
        assert {op.padding for op in ops if op.kind == "conv"} == {"zeros"}
        assert not any(op.ceil for op in ops if op.kind == "pool")
    with pytest.raises(ConfigError, match="variant"):
        EncoderConfig(variant="bgr")


@pytest.mark.parametrize("level", LEVELS)
def test_decoder_mirrors_the_encoder_at_every_level(level: str) -> None:
    k = block_of(level)
    config = DecoderConfig(widths=WIDTHS[:k], level=level)
    ops = decoder_ops(config)
    convs = [op for op in ops if op.kind == "conv"]
    enc_convs = [op for op in encoder_ops(EncoderConfig(widths=WIDTHS, last_layer=level)) if op.kind == "conv"]
    # The decoder's convs invert the encoder's in reverse order, channel counts swapped.
    assert [c.name for c in convs] == [c.name for c in reversed(enc_convs)] == decoder_conv_names(level)
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (c.out_channels, c.in_channels) for c in reversed(enc_convs)
    ]
    assert sum(op.kind == "up" for op in ops) == k - 1
    assert ops[-1].name == "conv1_1"  # no final ReLU unless asked
    assert decoder_ops(DecoderConfig(widths=WIDTHS[:k], level=level, final_relu=True))[-1].name == "relu1_1"
    # stride: the encoder pools k - 1 times; output size of decoder(encoder(x)) is x's for multiples of it
    enc = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer=level))
    assert stride(enc) == 2 ** (k - 1)
    s = stride(enc)
    assert output_size(enc + ops, 5 * s, 3 * s) == (5 * s, 3 * s)


def test_decoder_config_validates_widths_against_level() -> None:
    with pytest.raises(ConfigError, match="needs 5 positive widths"):
        DecoderConfig(widths=(1, 2, 3, 4), level="relu5_1")
    with pytest.raises(ConfigError, match="level"):
        DecoderConfig(level="relu4_2")
    d = DecoderConfig.from_dict({"widths": [1, 2, 3, 4], "final_relu": True})  # format-1 dicts have no level
    assert d.level == "relu4_1" and d.in_channels == 4


def test_output_size_rounding() -> None:
    enc = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu4_1"))
    assert output_size(enc, 36, 20) == (5, 3)  # 36 -> 18 -> 9 -> 5 (ceil), 20 -> 10 -> 5 -> 3
    floor = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu4_1", variant="imagenet"))
    assert output_size(floor, 36, 20) == (4, 2)


def test_output_size_agrees_with_the_modules() -> None:
    for variant in ("normalized", "imagenet"):
        config = EncoderConfig(widths=WIDTHS, last_layer="relu5_1", variant=variant)
        feats = VGGEncoder(config)(torch.rand(1, 3, 37, 23), ("relu5_1",))["relu5_1"]
        assert tuple(feats.shape[-2:]) == output_size(encoder_ops(config), 37, 23)


def test_receptive_field_by_hand_and_by_probing() -> None:
    # relu1_1: one 3x3 conv -> 3; relu2_1: 3x3, 3x3 (5), pool (6, step 2), 3x3 (+4) -> 10
    assert receptive_field(encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu1_1"))) == 3
    assert receptive_field(encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu2_1"))) == 10
    # Probe: the centre output of encoder+decoder must depend on no pixel further than rf/2.
    level = "relu2_1"
    enc = VGGEncoder(EncoderConfig(widths=WIDTHS, last_layer=level, variant="imagenet"))
    dec = Decoder(DecoderConfig(widths=WIDTHS[:2], level=level))
    rf = receptive_field(enc.ops + dec.ops)
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    out = dec(enc(x, (level,))[level])
    out[0, :, 32, 32].sum().backward()
    ys, xs = torch.nonzero(x.grad.abs().sum(1)[0], as_tuple=True)
    reach = max((ys - 32).abs().max().item(), (xs - 32).abs().max().item())
    assert reach <= rf // 2


def test_flops_by_hand() -> None:
    ops = encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu2_1"))
    costs = conv_costs(ops, 8, 6, batch=2)
    assert [c.name for c in costs] == ["conv0", "conv1_1", "conv1_2", "conv2_1"]
    expected = 2 * 2 * (3 * 3 * 1 * 48 + 3 * 4 * 9 * 48 + 4 * 4 * 9 * 48 + 4 * 8 * 9 * 12)
    assert flops(ops, 8, 6, batch=2) == sum(c.flops for c in costs) == expected


def test_sequential_indices_match_the_published_layouts() -> None:
    ref = sequential_indices(encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu5_1")))
    assert [ref[n] for n in ("conv0", "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv4_1", "conv5_1")] == [
        0, 2, 5, 9, 12, 16, 29, 42,
    ]  # fmt: skip
    dec = sequential_indices(decoder_ops(DecoderConfig(widths=WIDTHS[:4])))
    assert list(dec.values()) == [1, 5, 8, 11, 14, 18, 21, 25, 28]
    tv = sequential_indices(encoder_ops(EncoderConfig(widths=WIDTHS, last_layer="relu5_1", variant="imagenet")))
    assert [tv[n] for n in ("conv1_1", "conv1_2", "conv2_1", "conv3_1", "conv4_1", "conv5_1")] == [0, 2, 5, 10, 19, 28]

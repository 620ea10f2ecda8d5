"""The benchmark's FLOP count, derived from the plan, against a count by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adain_nst import AdaINModel, Decoder, DecoderConfig, EncoderConfig, VGGEncoder
from adain_nst.architecture import conv_costs, decoder_ops, encoder_ops
from adain_nst.bench import stylize_costs, stylize_flops


def conv_flops(cin: int, cout: int, k: int, h: int, w: int) -> int:
    return 2 * cin * cout * k * k * h * w


# Tiny widths 4, 8, 16, 32 on 32x32: pools 32 -> 16 -> 8 -> 4.
ENC = [
    conv_flops(3, 3, 1, 32, 32),  # conv0 (1x1)
    conv_flops(3, 4, 3, 32, 32),
    conv_flops(4, 4, 3, 32, 32),
    conv_flops(4, 8, 3, 16, 16),
    conv_flops(8, 8, 3, 16, 16),
    conv_flops(8, 16, 3, 8, 8),
    *[conv_flops(16, 16, 3, 8, 8)] * 3,
    conv_flops(16, 32, 3, 4, 4),
]
# Decoder from 4x4: 32->16, up, 3x 16->16, 16->8, up, 8->8, 8->4, up, 4->4, 4->3.
DEC = [
    conv_flops(32, 16, 3, 4, 4),
    *[conv_flops(16, 16, 3, 8, 8)] * 3,
    conv_flops(16, 8, 3, 8, 8),
    conv_flops(8, 8, 3, 16, 16),
    conv_flops(8, 4, 3, 16, 16),
    conv_flops(4, 4, 3, 32, 32),
    conv_flops(4, 3, 3, 32, 32),
]


def test_flop_count_matches_a_hand_count(tiny_model: Callable[..., AdaINModel]) -> None:
    tiny = tiny_model()
    assert [c.flops for c in conv_costs(encoder_ops(tiny.encoder.config, upto="relu4_1"), 32, 32)] == ENC
    assert [c.flops for c in conv_costs(decoder_ops(tiny.decoder.config), 4, 4)] == DEC
    assert stylize_flops(tiny, 32, 32, cached_style=True) == sum(ENC) + sum(DEC)
    assert stylize_flops(tiny, 32, 32) == 2 * sum(ENC) + sum(DEC)
    assert stylize_flops(tiny, 32, 32, batch=3, cached_style=True) == 3 * (sum(ENC) + sum(DEC))
    names = [c.name for c in stylize_costs(tiny, 32, 32)]
    assert names[0] == "content_conv0" and "decoder_conv4_1" in names and names[-1] == "style_conv4_1"


def test_flop_count_follows_ceil_pools_and_stride_padding(tiny_model: Callable[..., AdaINModel]) -> None:
    tiny = tiny_model()
    sizes = {c.name: c.height for c in conv_costs(encoder_ops(tiny.encoder.config, upto="relu4_1"), 36, 36)}
    assert sizes["conv2_1"] == 18 and sizes["conv3_1"] == 9 and sizes["conv4_1"] == 5
    # stylize pads the content to 40x40 (a multiple of 8); the style is encoded at its own size.
    content = stylize_flops(tiny, 36, 36, cached_style=True)
    assert content == stylize_flops(tiny, 40, 40, cached_style=True)
    style = sum(c.flops for c in conv_costs(encoder_ops(tiny.encoder.config, upto="relu4_1"), 36, 36))
    assert stylize_flops(tiny, 36, 36) == content + style
    assert stylize_flops(tiny, 36, 36, style_size=(16, 16)) == content + sum(ENC) // 4  # every layer at half the side


def test_flops_cut_at_the_models_level_and_pad_to_its_stride(tiny_model: Callable[..., AdaINModel]) -> None:
    # A relu5_1 encoder with a relu3_1 decoder: the encoder is cut at relu3_1, stride 4.
    model = tiny_model("relu3_1", encoder_last="relu5_1")
    assert model.stride == 4
    cached = stylize_flops(model, 30, 30, cached_style=True)
    assert cached == stylize_flops(model, 32, 32, cached_style=True) != stylize_flops(model, 40, 40, cached_style=True)
    enc = encoder_ops(model.encoder.config, upto="relu3_1")
    expected = sum(c.flops for c in conv_costs(enc, 32, 32)) + sum(
        c.flops for c in conv_costs(decoder_ops(model.decoder.config), 8, 8)
    )
    assert cached == expected
    assert not any(c.name.endswith(("conv4_1", "conv5_1")) for c in stylize_costs(model, 32, 32))


def test_full_model_flops_match_the_issue() -> None:
    model = AdaINModel(VGGEncoder(EncoderConfig()), Decoder(DecoderConfig()))
    assert stylize_flops(model, 512, 512) / 1e9 == pytest.approx(380, rel=0.01)
    cd16x = AdaINModel(
        VGGEncoder(EncoderConfig(widths=(16, 32, 64, 128, 128))),
        Decoder(DecoderConfig(widths=(16, 32, 64, 128), final_relu=True)),
    )
    assert stylize_flops(cd16x, 512, 512) / 1e9 == pytest.approx(24.2, rel=0.01)

"""Per-encoder-family defaults of the Gatys loss weights."""

from __future__ import annotations

import pytest

from adain_nst import EncoderConfig, VGGEncoder
from adain_nst.optimization import DEFAULT_STYLE_LAYERS, DEFAULTS, PRESETS, default_weights, encoder_family

from .helpers import small_encoder


def test_encoder_families_and_defaults() -> None:
    assert encoder_family(VGGEncoder(EncoderConfig(widths=(16, 32, 64, 128, 128), last_layer="relu5_1"))) == "cd16x"
    assert encoder_family(VGGEncoder(EncoderConfig(last_layer="relu1_1"))) == "vgg19-normalized"
    assert encoder_family(VGGEncoder(EncoderConfig(last_layer="relu1_1", variant="imagenet"))) == "imagenet"
    for d in DEFAULTS.values():
        assert set(d.style_layers) == set(DEFAULT_STYLE_LAYERS)
        assert sum(d.style_layers.values()) == pytest.approx(1.0)
        assert d.content_weight > 0 and d.style_weight > 0 and d.tv_weight >= 0
    assert default_weights(small_encoder()) is DEFAULTS["vgg19-normalized"]


def test_the_oxford_vgg19_has_its_calibrated_record_other_caffe_vggs_the_uncalibrated_one() -> None:
    vgg19 = VGGEncoder(EncoderConfig(last_layer="relu1_1", variant="caffe"))
    assert encoder_family(vgg19) == "vgg19-imagenet" and default_weights(vgg19) is DEFAULTS["vgg19-imagenet"]
    assert DEFAULTS["vgg19-imagenet"].style_weight == 12.0  # measured, docs/gatys.md
    narrow = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8), last_layer="relu1_1", variant="caffe"))
    assert encoder_family(narrow) == "imagenet" and default_weights(narrow) is DEFAULTS["imagenet"]


def test_presets_name_their_encoders() -> None:
    assert PRESETS["gatys2016"].encoder == "vgg19-imagenet" and PRESETS["fast"].encoder == "cd16x-e5"

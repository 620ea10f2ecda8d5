"""The plan as nn.Sequential stacks (benchmark baseline, ONNX source) equals the named modules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from adain_nst import AdaINModel
from adain_nst.architecture import LEVELS
from adain_nst.nn.reference import ReferenceAdaIN, decoder_sequential, encoder_sequential


@pytest.mark.parametrize("variant", ["normalized", "imagenet", "caffe"])
@pytest.mark.parametrize("level", LEVELS)
def test_sequential_forms_equal_the_modules(tiny_model: Callable[..., AdaINModel], level: str, variant: str) -> None:
    model = tiny_model(level, encoder_last="relu5_1", variant=variant)
    x = torch.rand(2, 3, 32, 48)
    seq = encoder_sequential(model.encoder, level)
    with torch.no_grad():
        feat = model.encode(x)
        torch.testing.assert_close(seq(x), feat)
        torch.testing.assert_close(decoder_sequential(model.decoder)(feat), model.decoder(feat))
        s = torch.rand(1, 3, 40, 24)
        torch.testing.assert_close(ReferenceAdaIN(model.encoder, model.decoder)(x, s, 0.6), model(x, s, 0.6))
    kinds = {type(m) for m in seq}
    assert (nn.ReflectionPad2d in kinds) == (variant == "normalized")

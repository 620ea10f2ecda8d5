"""The engine is a compiled form of the plan: equal to the reference modules for every
registered architecture, every level, every input convention, odd sizes and batches."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
import torch

from adain_nst import AdaINModel, ConfigError, Decoder, DecoderConfig, EncoderConfig, VGGEncoder
from adain_nst.architecture import LEVELS, block_of
from adain_nst.engine import Engine, InferenceOptions
from adain_nst.engine import runtime as rt
from adain_nst.pipeline import pad_to_multiple
from adain_nst.pretrained.registry import REGISTRY

FP32 = InferenceOptions(dtype=torch.float32)


def _compare(model: AdaINModel, content: torch.Tensor, style: torch.Tensor, alpha: float = 0.7) -> float:
    """Max |engine - forward| relative to the output's scale, both on the padded content, float32."""
    padded, _, _ = pad_to_multiple(content, model.stride)
    engine = Engine(model.encoder, model.decoder, FP32, model.eps)
    with torch.no_grad():
        expected = model(padded, style, alpha)
        got = engine.stylize(padded, [engine.encode(style)], [1.0], alpha)
    assert got.dtype == torch.float32 and got.shape == expected.shape == padded.shape
    return float((got - expected).abs().max() / expected.abs().max().clamp_min(1e-6))


@pytest.mark.parametrize("variant", ["normalized", "imagenet", "caffe"])
@pytest.mark.parametrize("level", LEVELS)
def test_engine_equals_reference_at_every_level(
    tiny_model: Callable[..., AdaINModel], level: str, variant: str
) -> None:
    model = tiny_model(level, encoder_last="relu5_1", variant=variant, final_relu=level in ("relu2_1", "relu4_1"))
    assert _compare(model, torch.rand(2, 3, 37, 45), torch.rand(1, 3, 29, 40)) < 1e-5


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_engine_equals_reference_for_every_registered_architecture(name: str) -> None:
    spec = REGISTRY[name]
    torch.manual_seed(0)
    model = AdaINModel(VGGEncoder(spec.encoder), Decoder(spec.decoder), spec.eps).eval()
    # Odd size, batch of 2; the wide layers of the full VGG take the Winograd path here.
    assert _compare(model, torch.rand(2, 3, 35, 50), torch.rand(1, 3, 32, 32)) < 1e-5


@pytest.mark.parametrize("level", LEVELS)
def test_cd16x_widths_at_every_level(level: str) -> None:
    k = block_of(level)
    widths = (24 if k == 1 else 16, 32, 64, 128, 128)
    model = AdaINModel(
        VGGEncoder(EncoderConfig(widths=widths, last_layer=level)),
        Decoder(DecoderConfig(widths=widths[:k], level=level, final_relu=True)),
    ).eval()
    assert _compare(model, torch.rand(1, 3, 41, 30), torch.rand(2, 3, 32, 32)[:1]) < 1e-5


def test_relu5_1_encoder_with_relu4_1_decoder_keeps_the_content_size(tiny_model: Callable[..., AdaINModel]) -> None:
    """The landed bug: the engine ran the encoder to its last layer, so stylize gave half the size."""
    model = tiny_model("relu4_1", encoder_last="relu5_1", widths=(16, 32, 64, 128, 128))
    content, style = torch.rand(1, 3, 128, 160), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(content, style).clamp(0, 1)
    for out in (model.stylize(content, style), model.stylize(content, style, backend="reference")):
        assert out.shape == content.shape
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_engine_refuses_an_encoder_that_stops_short(tiny_model: Callable[..., AdaINModel]) -> None:
    model = tiny_model("relu3_1")
    with pytest.raises(ConfigError, match="before the decoder's relu4_1"):
        Engine(model.encoder, Decoder(DecoderConfig(widths=(4, 8, 16, 32))))


def test_default_precision_is_float32_on_every_cpu(
    tiny_model: Callable[..., AdaINModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    for native in (False, True):
        monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda native=native: native)
        model._engines.clear()
        assert model.inference_engine().dtype == torch.float32
        assert rt.resolve_dtype(None, torch.device("cpu")) == torch.float32
        assert rt.resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if native else torch.float32)


def test_bfloat16_is_close_to_float32(tiny_model: Callable[..., AdaINModel]) -> None:
    model = tiny_model("relu2_1")  # tiny: emulated bf16 (AVX2-only CPUs) stays fast enough
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    emulated = not rt.cpu_has_native_bf16()
    with pytest.warns(RuntimeWarning, match="no native bfloat16") if emulated else contextlib.nullcontext():
        low = model.stylize(content, style, dtype=torch.bfloat16)
    ref = model.stylize(content, style, dtype=torch.float32)
    assert low.dtype == torch.float32
    assert float((low - ref).abs().max()) < 0.05

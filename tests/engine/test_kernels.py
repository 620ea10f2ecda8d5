"""Each engine kernel computes the plain conv it replaces (float32), alone and inside the engine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from adain_nst import AdaINModel
from adain_nst.engine import Engine, InferenceOptions, kernels

FP32 = InferenceOptions(dtype=torch.float32)


def _close(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.dtype == expected.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-4)


def _conv_ref(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: str, relu: bool) -> torch.Tensor:
    """The reference: pad by one (reflect or zeros), 3x3 conv, optional ReLU."""
    xp = F.pad(x, (1, 1, 1, 1), mode="reflect") if padding == "reflect" else F.pad(x, (1, 1, 1, 1))
    y = F.conv2d(xp, w, b)
    return F.relu(y) if relu else y


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("relu", [False, True])
def test_winograd_conv_equals_the_padded_conv(padding: str, relu: bool) -> None:
    x = torch.randn(2, 8, 10, 14, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(6, 8, 3, 3, dtype=torch.float32), torch.randn(6, dtype=torch.float32)
    got = kernels.conv_winograd(x, kernels.winograd_weight(w), b, relu, padding)
    _close(got, _conv_ref(x, w, b, padding, relu))


@pytest.mark.parametrize("channels_last", [False, True])
def test_subpixel_conv_equals_upsample_then_reflect_conv(channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 8, 5, 7, dtype=torch.float32).contiguous(memory_format=fmt)
    w, b = torch.randn(6, 8, 3, 3, dtype=torch.float32), torch.randn(6, dtype=torch.float32)
    mkldnn = kernels.mkldnn_usable(x.device, torch.float32)
    got = kernels.conv_subpixel(x, kernels.subpixel_weight(w), b.repeat(4), True, mkldnn, fmt)
    up = F.interpolate(x, scale_factor=2.0, mode="nearest")
    _close(got, _conv_ref(up, w, b, "reflect", True))


@pytest.mark.parametrize("channels_last", [False, True])
def test_tap_conv_equals_the_reflect_conv(channels_last: bool) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 16, 9, 11, dtype=torch.float32).contiguous(memory_format=fmt)
    w, b = torch.randn(3, 16, 3, 3, dtype=torch.float32), torch.randn(3, dtype=torch.float32)
    got = kernels.conv_taps(x, kernels.tap_weight(w), b, False, channels_last)
    _close(got, _conv_ref(x, w, b, "reflect", False))


@pytest.mark.parametrize("mkldnn", [False, True])
def test_fused_conv_relu_equals_conv_then_relu(mkldnn: bool) -> None:
    if mkldnn and not kernels.mkldnn_usable(torch.device("cpu"), torch.float32):
        pytest.skip("oneDNN's fused conv is not available in this torch build")
    x = torch.randn(1, 8, 12, 12, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, 8, 3, 3, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    b = torch.randn(4, dtype=torch.float32)
    _close(kernels.conv(x, w, b, 1, True, mkldnn), F.relu(F.conv2d(x, w, b, padding=1)))


def test_winograd_layers_inside_the_engine_equal_the_direct_conv(
    tiny_model: Callable[..., AdaINModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    monkeypatch.setattr(kernels, "WINOGRAD_MIN_CHANNELS", 8)  # so the tiny model's wide layers use it
    engine = Engine(model.encoder, model.decoder, FP32, model.eps)
    assert sum(getattr(step, "winograd", None) is not None for step in engine.decoder_steps) >= 3
    for shape in [(2, 3, 48, 64), (1, 3, 40, 40)]:  # relu4_1 at 6x8 (even) and 5x5 (odd: direct conv)
        content, style = torch.rand(*shape), torch.rand(1, 3, 44, 36)
        with torch.no_grad():
            expected = model(content, style)
            got = engine.stylize(content, [engine.encode(style)], [1.0], 1.0)
        _close(got, expected)


def test_cpu_batches_run_in_chunks_with_the_same_result(
    tiny_model: Callable[..., AdaINModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    contents = torch.rand(5, 3, 48, 40)
    styles = torch.rand(5, 3, 32, 32)  # one style per content: chunks must pair them up
    with torch.inference_mode():
        feats = model.encode_style(styles, fast=True, dtype=torch.float32)
        whole = model.stylize(contents, style_feats=feats, dtype=torch.float32)
        first_width = model.encoder.channels["relu1_1"]
        monkeypatch.setattr(kernels, "CPU_CHUNK_BYTES", 2 * 48 * 40 * first_width * 4)  # chunks of 2, 2, 1
        chunked = model.stylize(contents, style_feats=feats, dtype=torch.float32)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)


def test_engine_encode_and_decode_chunk_cpu_batches(
    tiny_model: Callable[..., AdaINModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tiny_model().inference_engine(dtype=torch.float32)
    images = torch.rand(5, 3, 48, 40)
    calls: list[int] = []
    with torch.inference_mode():
        feats, decoded = engine.encode(images), engine.decode(engine.encode(images))
        monkeypatch.setattr(kernels, "CPU_CHUNK_BYTES", 2 * 48 * 40 * engine.first_width * 4)  # 2, 2, 1
        encode = engine._encode
        monkeypatch.setattr(engine, "_encode", lambda x: calls.append(x.shape[0]) or encode(x))
        chunked = engine.encode(images)
        assert calls == [2, 2, 1] and engine.batch_chunk(48 * 40) == 2
        torch.testing.assert_close(chunked, feats, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(engine.decode(feats), decoded, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 16, 8, 12), (1, 5, 7, 9), (1, 3, 6, 11)], ids=["even", "odd", "odd-width"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("ceil", [False, True], ids=["floor", "ceil"])
def test_max_pool2x2_equals_max_pool2d(shape: tuple[int, ...], channels_last: bool, ceil: bool) -> None:
    x = torch.randn(shape)
    x[0, 0, 1, 1] = float("nan")  # max_pool2d propagates NaN; so must the fast path
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    got, want = kernels.max_pool2x2(x, ceil), F.max_pool2d(x, 2, 2, ceil_mode=ceil)
    assert got.shape == want.shape
    assert torch.equal(got.isnan(), want.isnan())
    assert torch.equal(got.nan_to_num(0.0), want.nan_to_num(0.0))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    assert got.is_contiguous(memory_format=fmt)


@pytest.mark.parametrize("shape", [(1, 16, 300, 260), (2, 3, 256, 257), (1, 4, 2, 40000)], ids=["wide", "odd", "flat"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reflect_pad1_of_big_channels_last_maps_equals_f_pad(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    # Maps of at least _COPY_PAD_MIN positions take the block-copy route: it must be F.pad exactly.
    x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
    assert shape[-2] * shape[-1] >= kernels._COPY_PAD_MIN
    got = kernels.pad1(x, "reflect")
    assert torch.equal(got, F.pad(x, (1, 1, 1, 1), mode="reflect"))
    assert got.dtype == dtype and got.is_contiguous(memory_format=torch.channels_last)
    small = x[..., :8, :8].contiguous(memory_format=torch.channels_last)  # F.pad's route
    assert torch.equal(kernels.pad1(small, "reflect"), F.pad(small, (1, 1, 1, 1), mode="reflect"))
    assert torch.equal(kernels.pad1(x, "zeros"), F.pad(x, (1, 1, 1, 1)))

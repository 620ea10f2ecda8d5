"""Every InferenceOptions switch keeps the reference's numbers (float32); batching, precision
choice ("auto" with the bf16 detection forced either way) and bf16 quality."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch

from adain_nst import AdaINModel
from adain_nst.engine import REFERENCE_LIKE, Engine, InferenceOptions
from adain_nst.engine import runtime as rt
from adain_nst.errors import DeviceError, InputError
from adain_nst.nn.reference import ReferenceAdaIN

CPU = torch.device("cpu")
FLAG_SETS = [
    {},
    {"channels_last": False},
    {"fuse_relu": False},
    {"subpixel": False},
    {"tap_output_conv": False},
    {"winograd": False},
    {"border_fix": True},
    {"retain_memory": "off"},
    {"channels_last": False, "fuse_relu": False, "subpixel": False, "tap_output_conv": False},
]


def _he_init(model: AdaINModel) -> AdaINModel:
    """He-initialised weights keep activations O(1) through the stack (PyTorch's default decays)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.normal_(0, 0.05)
    return model


@pytest.fixture
def tiny(tiny_model: Callable[..., AdaINModel]) -> AdaINModel:
    return _he_init(tiny_model())


def _psnr(a: torch.Tensor, b: torch.Tensor, peak: float) -> float:
    mse = float((a.double() - b.double()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "default")
def test_every_option_set_equals_forward(tiny: AdaINModel, flags: dict[str, bool]) -> None:
    content = torch.rand(2, 3, 40, 56)
    styles = [torch.rand(1, 3, 37, 29), torch.rand(1, 3, 48, 48)]
    with torch.no_grad():
        expected = tiny(content, styles, 0.7, style_weights=[0.3, 0.7])
        engine = Engine(tiny.encoder, tiny.decoder, InferenceOptions(dtype=torch.float32, **flags), tiny.eps)
        assert engine.dtype == torch.float32
        got = engine.stylize(content, [engine.encode(s) for s in styles], [0.3, 0.7], 0.7)
    torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-4)


def test_reference_like_options_equal_the_reference_baseline(tiny: AdaINModel) -> None:
    content, style = torch.rand(2, 3, 32, 48), torch.rand(1, 3, 40, 40)
    engine = Engine(tiny.encoder, tiny.decoder, REFERENCE_LIKE.with_(dtype=torch.float32), tiny.eps)
    assert engine.dtype == torch.float32 and not engine.mkldnn
    with torch.no_grad():
        expected = ReferenceAdaIN(tiny.encoder, tiny.decoder, tiny.eps)(content, style, 0.6)
        got = engine.stylize(content, [engine.encode(style)], [1.0], 0.6)
    torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-4)


def test_stylize_matches_forward_for_odd_sizes_and_color_modes(tiny: AdaINModel) -> None:
    content, style = torch.rand(1, 3, 37, 45), torch.rand(1, 3, 30, 41)
    for mode in (False, "coral", "luminance"):
        with torch.no_grad():
            expected = tiny(content, style, 0.8, preserve_color=mode).clamp(0, 1)
        got = tiny.stylize(content, style, 0.8, preserve_color=mode, dtype=torch.float32)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_batched_contents_with_one_cached_style_equal_per_image_results(tiny: AdaINModel) -> None:
    contents = torch.rand(5, 3, 48, 40)
    style = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        feats = tiny.encode_style(style, fast=True, dtype=torch.float32)
    batched = tiny.stylize(contents, style_feats=feats, alpha=0.9, dtype=torch.float32)
    single = torch.cat(
        [tiny.stylize(contents[i : i + 1], style_feats=feats, alpha=0.9, dtype=torch.float32) for i in range(5)]
    )
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)
    # and each equals stylising with the style image itself
    alone = tiny.stylize(contents[2:3], style, alpha=0.9, dtype=torch.float32)
    torch.testing.assert_close(alone, single[2:3], atol=1e-6, rtol=1e-6)


def test_engine_is_rebuilt_after_a_weight_update(tiny: AdaINModel) -> None:
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    before = tiny.stylize(content, style, dtype=torch.float32)
    with torch.no_grad():
        tiny.decoder.convs["conv1_1"].bias.add_(0.25)  # in place, as an optimiser step does
        expected = tiny(content, style).clamp(0, 1)
    after = tiny.stylize(content, style, dtype=torch.float32)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-4)


def test_encode_style_keeps_autograd_when_grad_is_on(tiny: AdaINModel) -> None:
    style = torch.rand(1, 3, 32, 32, requires_grad=True)
    (feat,) = tiny.encode_style(style)
    feat.sum().backward()
    assert style.grad is not None and style.grad.abs().sum() > 0


def test_dtype_choices() -> None:
    assert rt.resolve_dtype(None, CPU) == torch.float32
    assert rt.resolve_dtype("float32", CPU) == torch.float32
    assert rt.resolve_dtype("bf16", CPU) == torch.bfloat16
    assert rt.dtype_name(torch.bfloat16) == "bfloat16"
    with pytest.raises(DeviceError, match="float16"):
        rt.resolve_dtype(torch.float16, CPU)
    with pytest.raises(InputError, match="unknown dtype"):
        rt.resolve_dtype("int8", CPU)


@pytest.mark.parametrize("native", [False, True], ids=["avx2-only", "native-bf16"])
def test_auto_precision_follows_the_bf16_detection(
    tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    monkeypatch.setattr(rt, "cpu_has_native_bf16", lambda: native)
    want = torch.bfloat16 if native else torch.float32
    assert rt.resolve_dtype("auto", CPU) == want
    assert InferenceOptions().dtype is None  # the default stays float32 whatever the CPU
    assert Engine(tiny.encoder, tiny.decoder, InferenceOptions(), tiny.eps).dtype == torch.float32
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16 forced on a CPU that emulates it: slow, not wrong
        assert tiny.inference_engine(dtype="auto").dtype == want
        out = tiny.stylize(content, style, dtype="auto")
    assert out.dtype == torch.float32 and out.shape == content.shape


def test_retain_memory_modes(tiny: AdaINModel) -> None:
    assert InferenceOptions(retain_memory=True).retain_memory == "process"
    assert InferenceOptions(retain_memory=False).retain_memory == "off"
    assert InferenceOptions().retain_memory == "call"
    with pytest.raises(InputError, match="retain_memory"):
        InferenceOptions(retain_memory="always")
    with rt.retained_heap() as active, rt.retained_heap():  # nests
        assert active in (True, False)  # False where glibc is absent or malloc is tuned by env
    # The steady setting is in force after a CPU engine was built, unless malloc is not ours to tune.
    assert rt.steady_heap() == (rt._glibc_malloc() is not None and not rt._heap_kept_for_good)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    off = tiny.optimize_for_inference(dtype=torch.float32, retain_memory="off").stylize(content, style)
    call = tiny.optimize_for_inference(dtype=torch.float32).stylize(content, style)
    torch.testing.assert_close(off, call, atol=0, rtol=0)


def test_bfloat16_output_stays_close_to_float32(tiny: AdaINModel) -> None:
    content, style = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16 on CPUs without it: slow, not wrong
        with torch.inference_mode():
            fp32 = tiny.inference_engine(dtype=torch.float32)
            bf16 = tiny.inference_engine(dtype=torch.bfloat16)
            assert (fp32.dtype, bf16.dtype) == (torch.float32, torch.bfloat16)
            ref = fp32.stylize(content, [fp32.encode(style)], [1.0], 1.0)
            low = bf16.stylize(content, [bf16.encode(style)], [1.0], 1.0)
    assert low.dtype == torch.float32
    # Random weights: the output is not an image in [0, 1], so the peak is its value range.
    assert _psnr(low, ref, peak=float(ref.max() - ref.min())) >= 35.0

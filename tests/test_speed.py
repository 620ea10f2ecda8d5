"""The inference engine computes what forward() does; the benchmark counts FLOPs and reports.

No wall-clock assertions: timings on shared CI machines are noise. Speed lives in
docs/benchmarks.md; here only correctness of the fast path and of the benchmark's plumbing.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

from adain_nst import AdaINModel, ConfigError, Decoder, DecoderConfig, EncoderConfig, VGGEncoder, inference
from adain_nst.bench import (
    BenchConfig,
    Case,
    ReferenceAdaIN,
    compare_reports,
    decoder_conv_costs,
    dtype_quality,
    encoder_conv_costs,
    markdown_report,
    psnr,
    run_benchmark,
    stylize_flops,
)
from adain_nst.inference import InferenceEngine, InferenceOptions, cpu_has_native_bf16, resolve_dtype

WIDTHS = (4, 8, 16, 32, 32)


@pytest.fixture(scope="module")
def tiny() -> AdaINModel:
    torch.manual_seed(0)
    model = AdaINModel(VGGEncoder(EncoderConfig(widths=WIDTHS)), Decoder(DecoderConfig(widths=WIDTHS[:4]))).eval()
    with torch.no_grad():  # He init keeps activations O(1) through the stack (PyTorch's default decays)
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.normal_(0, 0.05)
    return model


# -- FLOP counter ------------------------------------------------------------------------------------
def conv_flops(cin: int, cout: int, k: int, h: int, w: int) -> int:
    return 2 * cin * cout * k * k * h * w


def test_flop_count_matches_a_hand_count(tiny: AdaINModel) -> None:
    # Encoder on 32x32: widths 4, 8, 16, 32; pools 32 -> 16 -> 8 -> 4.
    enc = [
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
    dec = [
        conv_flops(32, 16, 3, 4, 4),
        *[conv_flops(16, 16, 3, 8, 8)] * 3,
        conv_flops(16, 8, 3, 8, 8),
        conv_flops(8, 8, 3, 16, 16),
        conv_flops(8, 4, 3, 16, 16),
        conv_flops(4, 4, 3, 32, 32),
        conv_flops(4, 3, 3, 32, 32),
    ]
    assert [c.flops for c in encoder_conv_costs(tiny.encoder, 32, 32, upto="relu4_1")] == enc
    assert [c.flops for c in decoder_conv_costs(tiny.decoder, 4, 4)] == dec
    assert stylize_flops(tiny, 32, 32, cached_style=True) == sum(enc) + sum(dec)
    assert stylize_flops(tiny, 32, 32) == 2 * sum(enc) + sum(dec)
    assert stylize_flops(tiny, 32, 32, batch=3, cached_style=True) == 3 * (sum(enc) + sum(dec))


def test_flop_count_follows_ceil_pools_and_stride_padding(tiny: AdaINModel) -> None:
    sizes = [(c.name, c.height) for c in encoder_conv_costs(tiny.encoder, 36, 36, upto="relu4_1")]
    assert dict(sizes)["conv2_1"] == 18 and dict(sizes)["conv3_1"] == 9 and dict(sizes)["conv4_1"] == 5
    # stylize pads the content to 40x40 (a multiple of 8); the style is encoded at its own size.
    content = stylize_flops(tiny, 36, 36, cached_style=True)
    assert content == stylize_flops(tiny, 40, 40, cached_style=True)
    style = sum(c.flops for c in encoder_conv_costs(tiny.encoder, 36, 36, upto="relu4_1"))
    assert stylize_flops(tiny, 36, 36) == content + style


def test_full_model_flops_match_the_issue() -> None:
    model = AdaINModel(VGGEncoder(EncoderConfig()), Decoder(DecoderConfig()))
    assert stylize_flops(model, 512, 512) / 1e9 == pytest.approx(380, rel=0.01)


# -- engine correctness --------------------------------------------------------------------------------
FLAG_SETS = [
    {},
    {"channels_last": False},
    {"fuse_relu": False},
    {"subpixel": False},
    {"tap_output_conv": False},
    {"winograd": False},
    {"border_fix": True},
    {"channels_last": False, "fuse_relu": False, "subpixel": False, "tap_output_conv": False},
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "default")
def test_engine_equals_forward(tiny: AdaINModel, flags: dict[str, bool]) -> None:
    content = torch.rand(2, 3, 40, 56)
    styles = [torch.rand(1, 3, 37, 29), torch.rand(1, 3, 48, 48)]
    with torch.no_grad():
        expected = tiny(content, styles, 0.7, style_weights=[0.3, 0.7])
        engine = InferenceEngine(tiny, InferenceOptions(dtype=torch.float32, **flags))
        feats = [engine.encode(s) for s in styles]
        got = engine.stylize(content, feats, [0.3, 0.7], 0.7)
    torch.testing.assert_close(got, expected, atol=1e-5 * float(expected.abs().max()), rtol=1e-4)


def test_winograd_layers_equal_the_direct_conv(tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inference, "WINOGRAD_MIN_CHANNELS", 8)  # so the tiny model's wide layers use it
    engine = InferenceEngine(tiny, InferenceOptions(dtype=torch.float32))
    assert sum(layer.winograd is not None for layer in engine.decoder_layers) >= 3
    for shape in [(2, 3, 48, 64), (1, 3, 40, 40)]:  # relu4_1 at 6x8 (even) and 5x5 (odd: direct conv)
        content, style = torch.rand(*shape), torch.rand(1, 3, 44, 36)
        with torch.no_grad():
            expected = tiny(content, style)
            got = engine.stylize(content, [engine.encode(style)], [1.0], 1.0)
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
        feats = tiny.encode_style(style)
    batched = tiny.stylize(contents, style_feats=feats, alpha=0.9)
    single = torch.cat([tiny.stylize(contents[i : i + 1], style_feats=feats, alpha=0.9) for i in range(5)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)
    # and each equals stylising with the style image itself
    torch.testing.assert_close(tiny.stylize(contents[2:3], style, alpha=0.9), single[2:3], atol=1e-6, rtol=1e-6)


def test_cpu_batches_run_in_chunks_with_the_same_result(tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = torch.rand(5, 3, 48, 40)
    styles = torch.rand(5, 3, 32, 32)  # one style per content: chunks must pair them up
    with torch.inference_mode():
        feats = tiny.encode_style(styles)
        whole = tiny.stylize(contents, style_feats=feats)
        monkeypatch.setattr(inference, "CPU_CHUNK_BYTES", 2 * 48 * 40 * WIDTHS[0] * 4)  # chunks of 2, 2, 1
        chunked = tiny.stylize(contents, style_feats=feats)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)


def test_reference_baseline_computes_the_same_as_forward(tiny: AdaINModel) -> None:
    content, style = torch.rand(2, 3, 32, 48), torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(ReferenceAdaIN(tiny)(content, style, 0.6), tiny(content, style, 0.6))


def test_engine_is_rebuilt_after_a_weight_update() -> None:
    torch.manual_seed(1)
    model = AdaINModel(VGGEncoder(EncoderConfig(widths=WIDTHS)), Decoder(DecoderConfig(widths=WIDTHS[:4]))).eval()
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    before = model.stylize(content, style)
    with torch.no_grad():
        model.decoder.convs["conv1_1"].bias.add_(0.25)  # in place, as an optimiser step does
        expected = model(content, style).clamp(0, 1)
    after = model.stylize(content, style, dtype=torch.float32)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-4)


def test_encode_style_keeps_autograd_when_grad_is_on(tiny: AdaINModel) -> None:
    style = torch.rand(1, 3, 32, 32, requires_grad=True)
    (feat,) = tiny.encode_style(style)
    feat.sum().backward()
    assert style.grad is not None and style.grad.abs().sum() > 0


def test_dtype_choices() -> None:
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    assert resolve_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    with pytest.raises(ConfigError, match="float16"):
        resolve_dtype(torch.float16, cpu)
    with pytest.raises(ConfigError, match="unknown dtype"):
        resolve_dtype("int8", cpu)


def test_retain_memory_modes(tiny: AdaINModel) -> None:
    assert InferenceOptions(retain_memory=True).retain_memory == "process"
    assert InferenceOptions(retain_memory=False).retain_memory == "off"
    assert InferenceOptions().retain_memory == "call"
    with pytest.raises(ConfigError, match="retain_memory"):
        InferenceOptions(retain_memory="always")
    with inference.retained_heap() as active, inference.retained_heap():  # nests
        assert active in (True, False)  # False where glibc is absent or malloc is tuned by env
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    off = tiny.optimize_for_inference(retain_memory="off").stylize(content, style)
    call = tiny.optimize_for_inference().stylize(content, style)
    torch.testing.assert_close(off, call, atol=0, rtol=0)


def test_bfloat16_output_stays_close_to_float32(tiny: AdaINModel) -> None:
    content, style = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16 on CPUs without it: slow, not wrong
        with torch.inference_mode():
            fp32 = tiny.inference_engine(dtype=torch.float32)
            bf16 = tiny.inference_engine(dtype=torch.bfloat16)
            ref = fp32.stylize(content, [fp32.encode(style)], [1.0], 1.0)
            low = bf16.stylize(content, [bf16.encode(style)], [1.0], 1.0)
    assert low.dtype == torch.float32
    # Random weights: the output is not an image in [0, 1], so the peak is its value range.
    assert psnr(low, ref, peak=float(ref.max() - ref.min())) >= 35.0


def test_bfloat16_quality_on_real_weights_and_photos(cd16x_dir: Path, eval_dir: Path) -> None:
    model = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = dtype_quality(model, torch.bfloat16, size=64, pairs=2)
    assert "eval" in q["images"]
    assert q["psnr_db_min"] >= 35.0


def test_psnr() -> None:
    a = torch.zeros(4, 4)
    assert psnr(a, a) == math.inf
    assert psnr(a + 0.1, a) == pytest.approx(20.0)


# -- benchmark plumbing ----------------------------------------------------------------------------------
def test_benchmark_writes_json_and_markdown(tmp_path: Path) -> None:
    cfg = BenchConfig(tiny=True, min_runs=2, min_time=0.0, max_time=0.5, max_runs=2, warmup=1)
    cases = [
        Case("latency", "full", "reference", "eager fp32 NCHW", 32, cached_style=False, dtype="float32"),
        Case("latency", "full", "engine", "default", 32, cached_style=False),
        Case("latency", "full", "engine", "default", 32, cached_style=True),
        Case("ablation", "full", "engine", "no channels_last", 32, options=(("channels_last", False),)),
        Case("batch", "cd16x", "engine", "default", 32, batch=2),
        Case("dtype", "full", "engine", "default", 32, dtype="float16"),  # CPU: skipped, and says why
    ]
    report = run_benchmark(cfg, cases)
    path = tmp_path / "speed.json"
    path.write_text(json.dumps(report))
    loaded = json.loads(path.read_text())
    assert {"cpu", "logical_cpus", "torch", "gpu", "cpu_capability"} <= set(loaded["machine"])
    rows = {r["id"]: r for r in loaded["results"]}
    assert len(rows) == len(cases)
    for case in cases[:5]:
        r = rows[case.id]
        assert r["status"].startswith("ok"), r["status"]  # "ok (contended)" on a busy machine
        assert r["n"] == 2 and r["median_s"] > 0 and r["iqr_s"] >= 0 and r["gflop"] > 0
        assert r["img_per_s"] == pytest.approx(case.batch / r["median_s"])
    assert rows[cases[1].id]["max_abs_diff_vs_reference"] < 1e-4
    assert rows[cases[-1].id]["status"].startswith("skipped")
    md = markdown_report(loaded)
    assert "### Latency" in md and "| median ms |" in md and "eager fp32 NCHW" in md
    assert "x |" in md  # the engine rows carry a ratio to the reference
    cmp = compare_reports(loaded, loaded)
    assert "1.000" in cmp

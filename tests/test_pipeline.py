"""The one stylise pipeline (adain_nst.pipeline) through every entry point: real cd16x weights and
eval images, and API behaviour on small random models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adain_nst
import adain_nst.api
from adain_nst import AdaINModel, Decoder, DecoderConfig, EncoderConfig, InputError, VGGEncoder, calc_mean_std, pipeline
from adain_nst.image import resize_shorter, to_tensor

SIZE = 256


@pytest.fixture(scope="module")
def cd16x(cd16x_dir: Path) -> AdaINModel:
    return AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")


@pytest.fixture(scope="module")
def tiny() -> AdaINModel:
    torch.manual_seed(0)
    encoder = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8)))
    model = AdaINModel(encoder, Decoder(DecoderConfig(widths=(4, 8, 8, 8)))).eval()
    with torch.no_grad():  # He init, as the golden weights: PyTorch's default leaves tiny nets near-constant
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.normal_(0, 0.05)
    return model


def test_alpha_zero_reconstructs_eval_photos(cd16x: AdaINModel, eval_dir: Path) -> None:
    style = eval_dir / "style" / "la_muse.jpg"
    for name in ("cornell.jpg", "golden_gate.jpg"):
        out = cd16x.stylize(eval_dir / "content" / name, style, alpha=0.0, content_size=SIZE, style_size=SIZE)
        assert isinstance(out, Image.Image)
        original = resize_shorter(to_tensor(eval_dir / "content" / name)[0], SIZE)
        got = to_tensor(out)[0]
        assert got.shape == original.shape
        assert float(((got - original) ** 2).mean()) < 0.01


def test_alpha_one_moves_relu1_1_statistics_towards_the_style(cd16x: AdaINModel, eval_dir: Path) -> None:
    content = resize_shorter(to_tensor(eval_dir / "content" / "brad_pitt.jpg")[0], SIZE)
    style = resize_shorter(to_tensor(eval_dir / "style" / "picasso_self_portrait.jpg")[0], SIZE)
    out = cd16x.stylize(content, style, alpha=1.0)
    assert torch.isfinite(out).all() and out.shape == content.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0

    def stats(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mean, std = calc_mean_std(cd16x.encoder(x, ("relu1_1",))["relu1_1"])
        return torch.cat([mean.flatten(), std.flatten()])

    s_c, s_s, s_o = stats(content), stats(style), stats(out)
    assert float((s_o - s_s).norm()) < 0.8 * float((s_c - s_s).norm())


def test_output_kind_and_exact_size_for_odd_sizes(tiny: AdaINModel) -> None:
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    style = rng.random((20, 30, 3), dtype=np.float32)
    out = tiny.stylize(content, style)
    assert isinstance(out, np.ndarray) and out.shape == (37, 53, 3) and out.dtype == np.uint8
    out_f = tiny.stylize(content.astype(np.float32) / 255, style)
    assert out_f.dtype == np.float32 and out_f.min() >= 0 and out_f.max() <= 1
    chw = torch.rand(3, 29, 33)
    assert tiny.stylize(chw, torch.rand(1, 3, 40, 40)).shape == (3, 29, 33)
    gray = Image.fromarray(content[..., 0])
    assert tiny.stylize(gray, Image.fromarray(content)).size == (53, 37)


def test_interpolation_of_different_sized_styles(tiny: AdaINModel) -> None:
    content = torch.rand(1, 3, 32, 32)
    styles = [torch.rand(1, 3, 24, 40), torch.rand(1, 3, 48, 32), torch.rand(1, 3, 32, 32)]
    with torch.no_grad():
        mixed = tiny(content, styles, style_weights=[2, 0, 0])
        single = tiny(content, styles[0])
        torch.testing.assert_close(mixed, single)
        blended = tiny(content, styles, style_weights=[0.2, 0.3, 0.5])
        assert not torch.allclose(blended, single)
        feats = tiny.encode_style(styles)
        torch.testing.assert_close(tiny(content, style_feats=feats, style_weights=[0.2, 0.3, 0.5]), blended)


def test_preserve_color_modes(tiny: AdaINModel) -> None:
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        outs = {m: tiny(content, style, preserve_color=m) for m in (False, "coral", "luminance")}
    assert not torch.allclose(outs[False], outs["coral"])
    assert not torch.allclose(outs[False], outs["luminance"])
    with pytest.raises(InputError, match="preserve_color"):
        tiny(content, style, preserve_color="sepia")


def test_bad_options_raise_before_work(tiny: AdaINModel) -> None:
    img = torch.rand(3, 32, 32)
    with pytest.raises(InputError, match="alpha"):
        tiny.stylize(img, img, alpha=1.2)
    with pytest.raises(InputError, match="style_weights"):
        tiny.stylize(img, [img, img], style_weights=[1.0])
    with pytest.raises(InputError, match=">= 0"):
        tiny.stylize(img, [img, img], style_weights=[1.0, -2.0])
    with pytest.raises(InputError, match="NaN"):
        tiny.stylize(torch.full((3, 32, 32), float("nan")), img)
    with pytest.raises(adain_nst.ImageReadError, match="not found"):
        tiny.stylize("/nonexistent/photo.jpg", img)


def test_top_level_stylize_accepts_a_model(tiny: AdaINModel) -> None:
    img = torch.rand(3, 32, 32)
    out = adain_nst.stylize(img, img, 0.5, model=tiny)
    with torch.no_grad():
        expected = tiny(img[None], img[None], 0.5)[0].clamp(0, 1)
    torch.testing.assert_close(out, expected)


def test_out_of_memory_becomes_a_clear_error(tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(tiny.inference_engine(), "stylize", explode)  # what stylize() runs
    with pytest.raises(InputError, match="not enough CPU memory to stylise a 40x32 image"):
        tiny.stylize(torch.rand(3, 32, 40), torch.rand(3, 32, 32))


def test_backends_agree_in_float32(tiny: AdaINModel) -> None:
    content, style = torch.rand(2, 3, 30, 45), torch.rand(1, 3, 32, 32)
    engine = tiny.stylize(content, style, 0.8, preserve_color="luminance")
    reference = tiny.stylize(content, style, 0.8, preserve_color="luminance", backend="reference")
    torch.testing.assert_close(engine, reference, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="backend"):
        tiny.stylize(content, style, backend="onnx")


def test_relu5_1_encoder_keeps_the_size_through_every_entry_point(tiny_model) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model("relu4_1", encoder_last="relu5_1", widths=(16, 32, 64, 128, 128))
    content, style = torch.rand(3, 128, 160), torch.rand(3, 64, 64)
    with torch.no_grad():
        expected = model(content[None], style[None])[0].clamp(0, 1)
    for out in (
        model.stylize(content, style),
        adain_nst.stylize(content, style, model=model),
        np.asarray(model.stylize(content.permute(1, 2, 0).numpy(), style.permute(1, 2, 0).numpy())),
    ):
        got = torch.as_tensor(out)
        got = got.permute(2, 0, 1) if got.shape[-1] == 3 else got
        assert got.shape == content.shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_dtype_argument_reaches_the_engine(tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    original = tiny.inference_engine

    def spy(*, dtype: object = None) -> object:
        seen.append(dtype)
        return original(dtype=dtype)

    monkeypatch.setattr(tiny, "inference_engine", spy)
    img = torch.rand(3, 32, 32)
    tiny.stylize(img, img)
    assert seen and set(seen) == {None}
    seen.clear()
    tiny.stylize(img, img, dtype=torch.float32)
    assert seen and set(seen) == {torch.float32}
    assert original().dtype == torch.float32  # the model's default: float32 on every machine


def test_unavailable_device_is_refused_before_loading() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(adain_nst.DeviceError, match="CUDA is not available"):
        adain_nst.stylize(torch.rand(3, 32, 32), torch.rand(3, 32, 32), model="no-such-model", device="cuda")


# -- sizes, memory and strict options (issue 12) -------------------------------------------------------
@pytest.mark.parametrize(("h", "w"), [(1, 1), (8, 32), (32, 8), (3, 3)])
def test_images_too_small_for_the_network_are_refused_with_the_minimum(tiny: AdaINModel, h: int, w: int) -> None:
    ok = torch.rand(3, 32, 32)
    with pytest.raises(InputError, match=r"needs at least 9 px per side \(its relu4_1 level\)") as info:
        tiny.stylize(torch.rand(3, h, w), ok)
    assert "content" in str(info.value)
    with pytest.raises(InputError, match=r"style 0 is .* at least 9 px per side"):
        tiny.stylize(ok, torch.rand(3, h, w))
    with pytest.raises(InputError, match="at least 9 px"):
        tiny(torch.rand(1, 3, h, w), ok[None])  # forward, too
    with pytest.raises(InputError, match="content_size=9 or more"):
        tiny.stylize(ok, ok, content_size=8)


def test_the_minimum_is_the_network_s_and_it_runs(tiny: AdaINModel, tiny_model) -> None:  # type: ignore[no-untyped-def]
    assert pipeline.min_side(tiny) == 9  # relu4_1: stride 8, + 1
    deep = tiny_model("relu5_1")
    assert pipeline.min_side(deep) == 17
    assert tiny.stylize(torch.rand(3, 9, 9), torch.rand(3, 9, 40)).shape == (3, 9, 9)
    assert tiny.stylize(torch.rand(3, 32, 32), torch.rand(3, 32, 32), content_size=9).shape == (3, 9, 9)
    assert deep.stylize(torch.rand(3, 17, 30), torch.rand(3, 17, 17)).shape == (3, 17, 30)
    with pytest.raises(InputError, match="at least 17 px"):
        deep.stylize(torch.rand(3, 16, 30), torch.rand(3, 17, 17))


def test_sizes_are_read_from_the_header_before_decoding(
    tiny: AdaINModel,
    declared_png,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    decoded: list[object] = []
    monkeypatch.setattr(pipeline, "to_tensor", lambda *a, **k: decoded.append(a) or to_tensor(*a, **k))
    with pytest.raises(InputError, match="content is 4x4 px"):
        tiny.stylize(str(declared_png(4, 4)), torch.rand(3, 32, 32))
    with pytest.raises(adain_nst.ImageTooLargeError, match="200 MP"):
        tiny.stylize(torch.rand(3, 32, 32), str(declared_png(20_000, 20_000)))
    assert decoded == []
    assert pipeline.planned_size(str(declared_png(4000, 3000)), 300) == (300, 400)


def test_memory_estimate_follows_the_plan() -> None:
    model = adain_nst.load_model()  # the bundled cd16x family, default look
    cascade = model.cascade()
    per_pixel = pipeline.estimate_memory(cascade, 4000, 6000) / (4000 * 6000)
    # Widest conv: 16 + 16 channels at full resolution, float32, times MEMORY_FACTOR. Measured peak
    # of this call: ~490 bytes per pixel at 6 MP (10.4 GB at 6000 x 4000 in the issue).
    assert per_pixel == pytest.approx(32 * 4 * pipeline.MEMORY_FACTOR, rel=0.01)
    assert 400 <= per_pixel <= 700
    assert pipeline.estimate_memory(cascade, 400, 600, bytes_per_value=2) * 2 == pipeline.estimate_memory(
        cascade, 400, 600
    )


def test_a_size_beyond_the_available_memory_warns_early(tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch) -> None:
    class Decoded(Exception):
        pass

    def decode(*args: object, **kwargs: object) -> None:
        raise Decoded  # the warning must come before any pixel is decoded

    monkeypatch.setattr(pipeline, "available_memory", lambda device: 100_000)
    monkeypatch.setattr(pipeline, "to_tensor", decode)
    need = pipeline.estimate_memory(tiny.cascade(), 48, 64)
    assert need > 100_000
    expected = rf"64x48 px content needs about {need / 1e6:.1f} MB of CPU memory but about 0\.1 MB is available"
    with pytest.warns(UserWarning, match=expected), pytest.raises(Decoded):
        tiny.stylize(torch.rand(3, 48, 64), torch.rand(3, 32, 32))
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "available_memory", lambda device: None)  # unknown: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny.stylize(torch.rand(3, 48, 64), torch.rand(3, 32, 32))


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"alpha": "0.5"}, "alpha must be a number"),
        ({"alpha": True}, "alpha must be a number"),
        ({"content_size": "256"}, "content_size must be an integer"),
        ({"content_size": 256.7}, "content_size must be an integer"),
        ({"style_size": True}, "style_size must be an integer"),
        ({"style_weights": ["1"]}, "style_weights must be numbers"),
        ({"level_alpha": {"relu4_1": "1"}}, "level_alpha"),
        ({"preserve_color": "sepia"}, "preserve_color"),
    ],
)
def test_option_types_are_strict_and_checked_before_a_model_loads(
    tiny: AdaINModel, monkeypatch: pytest.MonkeyPatch, option: dict[str, object], match: str
) -> None:
    img = torch.rand(3, 32, 32)
    monkeypatch.setattr(adain_nst.api, "get_model", lambda *a, **k: pytest.fail("a model was loaded first"))
    with pytest.raises(InputError, match=match):
        adain_nst.stylize(img, img, **option)  # type: ignore[arg-type]
    if "level_alpha" not in option:
        with pytest.raises(InputError, match=match):
            tiny.stylize(img, img, **option)  # type: ignore[arg-type]

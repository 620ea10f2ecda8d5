"""Spatial control (masks=) through the pipeline: the issue's acceptance on the bundled cd16x family, measured
by the independent ImageNet VGG-19, and the behaviour of masks, None regions, region alpha and colour modes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import adain_nst
import adain_nst.api
from adain_nst import InputError, MaskError, MultiLevelModel, VGGEncoder, samples
from adain_nst.architecture import LEVELS
from adain_nst.color import rgb_to_yiq
from adain_nst.image import resize_shorter, to_tensor
from adain_nst.masks import resize_masks
from adain_nst.nn.transforms import calc_mean_std, masked_mean_std

SIZE = 96  # the smallest size at which every transform's plain stylisation is measurably the style's
JUDGE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CASES = [(t, lv) for t in ("adain", "wct", "efdm") for lv in (("relu4_1",), None)]  # None: the default 5 levels


@pytest.fixture(scope="module")
def family() -> MultiLevelModel:
    """The bundled default family, from the per-process cache (its engines are shared with other tests)."""
    model = adain_nst.api.get_model()
    assert isinstance(model, MultiLevelModel)
    return model


@pytest.fixture(scope="module")
def judge() -> VGGEncoder:
    return VGGEncoder.from_pretrained("vgg19-imagenet")


@pytest.fixture(scope="module")
def images() -> dict[str, torch.Tensor]:
    """Astronaut content; Kandinsky (bright, angular) and Monet (grey-blue, soft) styles, all at SIZE."""
    names = {"content": "astronaut", "a": "kandinsky_composition_vii", "b": "monet_etretat"}
    return {k: resize_shorter(to_tensor(samples.path(v))[0], SIZE) for k, v in names.items()}


def _halves(h: int, w: int) -> torch.Tensor:
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1.0
    return left


def _stats(judge: VGGEncoder, image: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Per layer, the channel means and stds of the judge's features (inside ``mask`` when given)."""
    with torch.no_grad():
        feats = judge(image, JUDGE_LAYERS)
    out = []
    for name in JUDGE_LAYERS:
        f = feats[name]
        if mask is None:
            mean, std = calc_mean_std(f)
        else:
            mean, std = masked_mean_std(f, resize_masks(mask.view(1, 1, *mask.shape), f.shape[-2:]))
        out.append(torch.cat([mean.flatten(), std.flatten()]))
    return out


@pytest.mark.parametrize(("transform", "levels"), CASES)
def test_each_region_takes_its_own_style(
    family: MultiLevelModel, judge: VGGEncoder, images: dict[str, torch.Tensor], transform: str, levels: tuple | None
) -> None:
    content, a, b = images["content"], images["a"], images["b"]
    left = _halves(*content.shape[-2:])
    out = family.stylize(content, [a, b], masks=[left, 1 - left], transform=transform, levels=levels)
    style_a, style_b = _stats(judge, a), _stats(judge, b)
    # each layer's distance in units of the two styles' own scale there, so every layer counts
    scale = [(float(x.pow(2).sum()) + float(y.pow(2).sum())) / 2 for x, y in zip(style_a, style_b, strict=True)]

    def distance(region: list[torch.Tensor], style: list[torch.Tensor]) -> float:
        return sum(float((r - s).pow(2).sum()) / k for r, s, k in zip(region, style, scale, strict=True))

    region_a, region_b = _stats(judge, out, left), _stats(judge, out, 1 - left)
    assert distance(region_a, style_a) < distance(region_a, style_b)
    assert distance(region_b, style_b) < distance(region_b, style_a)


def test_an_all_ones_mask_equals_the_style_alone(family: MultiLevelModel, images: dict[str, torch.Tensor]) -> None:
    content = resize_shorter(images["content"], 48)
    style = images["a"]
    ones = torch.ones(content.shape[-2:])
    for transform, levels in [("adain", ("relu4_1",)), ("efdm", None)]:  # the fused single pass; 5 levels
        plain = family.stylize(content, style, 0.8, transform=transform, levels=levels)
        masked = family.stylize(content, [style], 0.8, masks=[ones], transform=transform, levels=levels)
        torch.testing.assert_close(masked, plain, atol=1e-5, rtol=0)


def _column_gradients(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal difference of each column pair: a seam is a spike."""
    return (image[..., 1:] - image[..., :-1]).abs().mean(dim=(0, 1, 2))


def _seam_ratio(image: torch.Tensor, lo: int, hi: int) -> float:
    """Largest column gradient across the boundary band ``[lo, hi)`` over the largest inside the regions."""
    g = _column_gradients(image)
    inside = torch.cat([g[4:lo], g[hi:-4]])  # image borders excluded
    return float(g[lo:hi].max() / inside.max())


def test_soft_masks_blend_without_a_seam(family: MultiLevelModel, images: dict[str, torch.Tensor]) -> None:
    content, a, b = images["content"], images["a"], images["b"]
    h, w = content.shape[-2:]
    ramp = ((torch.arange(w).float() - (w / 2 - 12)) / 24).clamp(0, 1).expand(h, w)  # 24 px soft edge
    lo, hi = w // 2 - 16, w // 2 + 16
    for transform, levels in [("adain", ("relu4_1",)), ("efdm", ("relu4_1",)), ("wct", None)]:
        out = family.stylize(content, [a, b], masks=[1 - ramp, ramp], transform=transform, levels=levels)
        assert _seam_ratio(out, lo, hi) <= 1.5, (transform, levels)
    # the measure sees a seam: pasting two stylisations together along a hard line makes one
    hard = (torch.arange(w) < w // 2).float().expand(h, w)
    pasted = family.stylize(content, a, transform="wct") * hard + family.stylize(content, b, transform="wct") * (
        1 - hard
    )
    assert _seam_ratio(pasted, lo, hi) > 1.5 > _seam_ratio(out, lo, hi)


def test_none_region_keeps_the_content(family: MultiLevelModel, images: dict[str, torch.Tensor]) -> None:
    content, style = images["content"], images["a"]
    h, w = content.shape[-2:]
    left = _halves(h, w)
    out = family.stylize(content, [style, None], masks=[left, 1 - left])
    kept = family.stylize(content, style, alpha=0.0)  # what the decoders make of the content itself
    styled = family.stylize(content, style)
    far = slice(w - 16, None)  # away from the soft edge the coarse levels give the boundary

    def gap(x: torch.Tensor, y: torch.Tensor, cols: slice) -> float:
        return float((x[..., cols] - y[..., cols]).abs().mean())

    assert gap(out, kept, far) < 0.25 * gap(styled, kept, far)
    assert gap(out, kept, slice(0, 16)) > 0.1  # the styled region is styled
    # uncovered pixels, region alpha 0 and a None style are the same thing
    small, levels = resize_shorter(content, 48), ("relu4_1",)
    left = _halves(*small.shape[-2:])
    none = family.stylize(small, [style, None], masks=[left, 1 - left], levels=levels)
    torch.testing.assert_close(family.stylize(small, [style], masks=[left], levels=levels), none)
    zero = family.stylize(small, [style, images["b"]], masks=[left, 1 - left], region_alpha=[1.0, 0.0], levels=levels)
    torch.testing.assert_close(zero, none)


@pytest.fixture(scope="module")
def tiny_family() -> MultiLevelModel:
    """A random family with pairs at every level (He-initialised so the features are not flat)."""
    from conftest import he_tiny_pairs, make_tiny_model

    pairs = he_tiny_pairs()
    return MultiLevelModel(pairs, make_tiny_model("relu4_1", seed=9), transform="adain")


@pytest.mark.parametrize("transform", ["adain", "wct", "efdm"])
def test_engine_equals_reference_with_masks_and_batches(tiny_family: MultiLevelModel, transform: str) -> None:
    content = torch.rand(2, 3, 37, 45)
    styles = [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 40, 24)]
    soft = torch.rand(37, 45)
    kw = dict(masks=[soft, 1 - soft], transform=transform, levels=LEVELS[::-1], region_alpha=[1.0, 0.6])
    fast = tiny_family.stylize(content, styles, **kw)
    slow = tiny_family.stylize(content, styles, backend="reference", **kw)
    assert fast.shape == content.shape
    diff = (fast - slow).abs()
    # as without masks (tests/test_multilevel.py); a random tiny net amplifies rounding a little more
    assert float(diff.mean()) < 1e-5 and float(diff.max()) < 1e-3
    with torch.no_grad():
        raw = tiny_family(content, styles, transform=transform, levels=LEVELS[::-1], masks=[soft, 1 - soft],
                          region_alpha=[1.0, 0.6])  # fmt: skip
    torch.testing.assert_close(raw.clamp(0, 1), slow, atol=1e-5, rtol=0)
    # each image of the batch is the image alone (masks are shared by the batch)
    alone = (tiny_family.stylize(content[1], styles, **kw) - fast[1]).abs()
    assert float(alone.mean()) < 1e-5 and float(alone.max()) < 1e-3


def test_precomputed_style_features_with_masks(tiny_family: MultiLevelModel) -> None:
    content, styles = torch.rand(3, 40, 40), [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)]
    m = torch.rand(40, 40)
    feats = tiny_family.encode_style(styles, fast=True)
    direct = tiny_family.stylize(content, styles, masks=[m, 1 - m])
    torch.testing.assert_close(tiny_family.stylize(content, style_feats=feats, masks=[m, 1 - m]), direct)
    with pytest.raises(InputError, match=r"got 3 mask\(s\) for 2 style\(s\)"):
        tiny_family.stylize(content, style_feats=feats, masks=[m, m, m])
    with pytest.raises(InputError, match="coral"):
        tiny_family.stylize(content, style_feats=feats, masks=[m, 1 - m], preserve_color=["coral", None])


def test_forward_with_masks_is_differentiable(tiny_model: Callable[..., adain_nst.AdaINModel]) -> None:
    model = tiny_model()
    content = torch.rand(1, 3, 32, 32, requires_grad=True)
    left = _halves(32, 32)
    out = model(content, [torch.rand(1, 3, 32, 32), None], masks=[left, 1 - left])
    out.mean().backward()
    assert content.grad is not None and float(content.grad.abs().sum()) > 0


def test_colour_mode_per_region(family: MultiLevelModel, images: dict[str, torch.Tensor]) -> None:
    content = resize_shorter(images["content"], 48)
    styles = [images["a"], images["b"]]
    left = _halves(48, 48)
    kw = dict(masks=[left, 1 - left], levels=("relu4_1",))
    out = family.stylize(content, styles, preserve_color=["luminance", None], **kw)
    plain = family.stylize(content, styles, **kw)
    # left: the content's chrominance (I, Q of YIQ) under the stylised luminance (where nothing clipped)
    iq_out, iq_content = rgb_to_yiq(out)[:, 1:, :, :24], rgb_to_yiq(content)[:, 1:, :, :24]
    both = torch.cat([out[..., :24], plain[..., :24]], dim=1)
    inside = ((both > 0.001) & (both < 0.999)).all(1, keepdim=True).expand_as(iq_out)
    assert float(inside.float().mean()) > 0.5
    assert float((iq_out - iq_content).abs()[inside].max()) < 1e-4
    y_gap = (rgb_to_yiq(out)[:, :1, :, :24] - rgb_to_yiq(plain)[:, :1, :, :24]).abs()
    assert float(y_gap[inside[:, :1]].max()) < 1e-4  # the stylised luminance is kept
    torch.testing.assert_close(out[..., 24:], plain[..., 24:])
    # coral recolours the right region's style to that region's colours: the region moves towards them
    coral = family.stylize(content, styles, preserve_color=[None, "coral"], **kw)
    right = (slice(None), slice(None), slice(None), slice(32, None))
    colour_gap = (coral[right].mean((-2, -1)) - content[right].mean((-2, -1))).abs().sum()
    assert float(colour_gap) < float((plain[right].mean((-2, -1)) - content[right].mean((-2, -1))).abs().sum())
    with pytest.raises(InputError, match=r"preserve_color has 3 entries but 2 mask\(s\)"):
        family.stylize(content, styles, preserve_color=["coral", None, None], **kw)


def test_options_are_checked_before_any_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(adain_nst.api, "get_model", no_model)
    photo, style = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    m = np.ones((32, 32), np.float32)
    cases = [
        (dict(style=[style, style], masks=[m]), MaskError, r"got 1 mask\(s\) for 2 style\(s\)"),
        (dict(style=[style], masks=[m * np.nan]), MaskError, "mask 0 contains NaN"),
        (dict(style=[style], masks=[m * 3]), MaskError, r"weights in \[0, 1\]"),
        (dict(style=[style], masks=[m * 0]), MaskError, "mask 0 is empty"),
        (dict(style=[style], masks=["/no/such/mask.png"]), adain_nst.ImageReadError, "not found"),
        (dict(style=[style], masks=[m], region_alpha=[1.5]), InputError, r"region_alpha\[0\] must be in \[0, 1\]"),
        (dict(style=[style], masks=[m], region_alpha=[1, 1]), InputError, "region_alpha has 2 entries"),
        (dict(style=style, region_alpha=[1.0]), InputError, "region_alpha needs masks"),
        (dict(style=style, preserve_color=["coral"]), InputError, "needs masks"),
        (dict(style=[style, style], masks=[m, m], style_weights=[1, 2]), InputError, "use region_alpha"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            adain_nst.stylize(photo, **kwargs)


def test_none_styles_need_masks_and_a_real_style(tiny_family: MultiLevelModel) -> None:
    content, style = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    with pytest.raises(InputError, match=r"None style .* needs masks"):
        tiny_family.stylize(content, [style, None])
    with pytest.raises(InputError, match="every style is None"):
        tiny_family.stylize(content, [None], masks=[torch.ones(32, 32)])
    with pytest.raises(MaskError, match="aspect ratio"):
        tiny_family.stylize(content, [style], masks=[torch.ones(32, 64)])


def test_masks_in_bfloat16_follow_float32(tiny_family: MultiLevelModel) -> None:
    content, styles = torch.rand(3, 40, 40), [torch.rand(3, 32, 32), torch.rand(3, 32, 32)]
    m = torch.zeros(40, 40)
    m[:, :20] = 1.0
    kw = dict(masks=[m, 1 - m], transform="adain", levels=("relu3_1", "relu1_1"))
    half = tiny_family.stylize(content, styles, dtype=torch.bfloat16, **kw)
    full = tiny_family.stylize(content, styles, **kw)
    assert half.dtype == torch.float32 and float((half - full).abs().mean()) < 0.05

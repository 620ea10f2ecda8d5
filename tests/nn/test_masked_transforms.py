"""Masked statistics and region transforms (adain_nst.nn.transforms) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adain_nst import InputError, adaptive_instance_norm, calc_mean_std
from adain_nst.nn.transforms import (
    MIN_REGION_SIZE,
    efdm,
    masked_covariance,
    masked_mean_std,
    masked_quantile_levels,
    region_mix,
    region_weights,
    transform_mix,
    wct,
)

TRANSFORMS = ("adain", "wct", "efdm")


def _half_mask(h: int, w: int, cols: int) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., :cols] = 1.0
    return m


def test_masked_mean_std_equals_the_statistics_of_the_selected_positions() -> None:
    x = torch.randn(2, 5, 6, 8) * 3 + 1
    mask = _half_mask(6, 8, 3)
    mean, std = masked_mean_std(x, mask, eps=1e-5)
    selected = x[..., :3].reshape(2, 5, -1)  # an independent route: the positions themselves
    torch.testing.assert_close(mean.flatten(), selected.mean(-1).flatten(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(std.flatten(), (selected.var(-1, correction=1) + 1e-5).sqrt().flatten())
    # all ones: calc_mean_std exactly (the unmasked numbers)
    full = masked_mean_std(x, torch.ones(1, 1, 6, 8))
    for a, b in zip(full, calc_mean_std(x), strict=True):
        assert torch.equal(a, b)


def test_soft_masks_use_reliability_weights_like_numpy_cov() -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(1, 4, 5, 7))).float()
    w = torch.from_numpy(rng.uniform(0.05, 1.0, size=(5, 7))).float()
    mean, std = masked_mean_std(x, w.view(1, 1, 5, 7), eps=0.0)
    flat = x.reshape(4, -1).double().numpy()
    weights = w.reshape(-1).double().numpy()
    ref_cov = np.cov(flat, aweights=weights)  # ddof=1: sum w (x-m)^2 / (V1 - V2/V1)
    ref_mean = np.average(flat, axis=1, weights=weights)
    np.testing.assert_allclose(mean.flatten().numpy(), ref_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.flatten().numpy() ** 2, np.diag(ref_cov), rtol=1e-5)
    c_mean, c_cov = masked_covariance(x.reshape(4, -1), w.reshape(-1))
    np.testing.assert_allclose(c_mean.flatten().numpy(), ref_mean, rtol=1e-10)
    np.testing.assert_allclose(c_cov.numpy(), ref_cov, rtol=1e-10, atol=1e-12)
    # all ones: the plain sample covariance
    _, plain = masked_covariance(x.reshape(4, -1), torch.ones(35))
    np.testing.assert_allclose(plain.numpy(), np.cov(flat), rtol=1e-10)


def test_quantile_levels_match_a_loop() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 9, generator=g)
    w = torch.rand(1, 9, generator=g)
    w[0, 3] = 0.0
    levels = masked_quantile_levels(x, w)
    for ch in range(2):
        vals = x[0, ch]
        for i in range(9):
            below = float(w[0][vals < vals[i]].sum())
            expected = (below + 0.5 * float(w[0, i])) / float(w.sum())
            assert abs(float(levels[0, ch, i]) - expected) < 1e-7
    # all ones: rank r sits at (r + 0.5) / N, the quantile efdm reads
    ranks = x.argsort(-1).argsort(-1).double()
    torch.testing.assert_close(masked_quantile_levels(x, torch.ones(1, 9)), (ranks + 0.5) / 9)


def test_tiny_regions_fall_back_to_the_whole_map() -> None:
    w = torch.zeros(1, 1, 4, 4)
    w[..., 0, 0] = 1.0  # one position: below MIN_REGION_SIZE
    assert MIN_REGION_SIZE > 1
    assert torch.equal(region_weights(w, 2, (4, 4)), torch.ones(2, 16, dtype=torch.float64))
    big = _half_mask(4, 4, 2)
    assert torch.equal(region_weights(big, 1, (4, 4)), big.reshape(1, 16).double())
    with pytest.raises(InputError, match="region mask must be"):
        region_weights(torch.ones(1, 1, 3, 4), 1, (4, 4))


def test_binary_mask_gives_the_region_the_style_statistics() -> None:
    content = torch.rand(1, 6, 8, 10) * 4
    style = torch.rand(1, 6, 8, 5) * 2 + 3  # 40 positions, as many as the region
    mask = _half_mask(8, 10, 5)
    s_mean, s_std = calc_mean_std(style, eps=0.0)
    out = adaptive_instance_norm(content, style, 0.0, mask=mask)
    r_mean, r_std = calc_mean_std(out[..., :5].contiguous(), eps=0.0)
    torch.testing.assert_close(r_mean, s_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(r_std, s_std, atol=1e-4, rtol=1e-4)

    out = wct(content, style, 0.0, mask=mask)
    region = out[..., :5].reshape(6, -1).double()
    torch.testing.assert_close(region.mean(1), style.reshape(6, -1).double().mean(1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.cov(region), torch.cov(style.reshape(6, -1).double()), atol=1e-3, rtol=1e-3)

    out = efdm(content, style, mask=mask)  # equal sizes: the style's values exactly, per channel
    region = out[..., :5].reshape(6, -1).sort(-1).values
    torch.testing.assert_close(region, style.reshape(6, -1).sort(-1).values)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_all_ones_mask_is_the_unmasked_transform(name: str) -> None:
    c, s = torch.rand(2, 4, 6, 7) * 2, torch.rand(1, 4, 5, 5)
    ones = torch.ones(1, 1, 6, 7)
    fn = {"adain": adaptive_instance_norm, "wct": wct, "efdm": efdm}[name]
    assert torch.equal(fn(c, s, mask=ones), fn(c, s))
    got = region_mix(name, c, [s], ones.expand(1, 1, 6, 7), [0.6])
    torch.testing.assert_close(got, transform_mix(name, c, [s], [1.0], 0.6), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_region_mix_blends_regions_and_keeps_the_content_elsewhere(name: str) -> None:
    c = torch.rand(1, 4, 6, 12) * 2
    s1, s2 = torch.rand(1, 4, 6, 6) + 2, torch.rand(1, 4, 6, 6) * 0.1
    ramp = torch.linspace(0, 1, 12).view(1, 1, 1, 12).expand(1, 1, 6, 12)
    masks = torch.cat([1 - ramp, ramp], dim=1)
    out = region_mix(name, c, [s1, s2], masks, [1.0, 1.0])
    fn = {"adain": adaptive_instance_norm, "wct": wct, "efdm": efdm}[name]
    t1, t2 = fn(c, s1, mask=masks[:, :1]), fn(c, s2, mask=masks[:, 1:])
    torch.testing.assert_close(out, (1 - ramp) * t1 + ramp * t2, atol=1e-5, rtol=1e-5)
    # a None region and uncovered pixels keep the content; alpha 0 is the same as None
    keep = region_mix(name, c, [s1, None], masks, [1.0, 1.0])
    torch.testing.assert_close(keep, (1 - ramp) * t1 + ramp * c, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(region_mix(name, c, [s1, s2], masks, [1.0, 0.0]), keep)
    half = region_mix(name, c, [s1], masks[:, :1] * 0.5, [1.0])
    torch.testing.assert_close(half, 0.5 * (1 - ramp) * t1 + (1 - 0.5 * (1 - ramp)) * c, atol=1e-5, rtol=1e-5)


def test_region_mix_refuses_mismatched_masks() -> None:
    c, s = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6)
    with pytest.raises(InputError, match=r"masks must be \(B or 1, 2, 6, 6\)"):
        region_mix("adain", c, [s, s], torch.ones(1, 1, 6, 6), [1.0, 1.0])
    with pytest.raises(InputError, match="region alphas"):
        region_mix("adain", c, [s], torch.ones(1, 1, 6, 6), [1.0, 1.0])
    with pytest.raises(InputError, match="transform must be one of"):
        region_mix("gram", c, [s], torch.ones(1, 1, 6, 6), [1.0])


def test_masked_adain_is_differentiable() -> None:
    c = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    s = torch.rand(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(1, 1, 4, 4, dtype=torch.float64) * 0.5 + 0.5
    assert torch.autograd.gradcheck(lambda a, b: adaptive_instance_norm(a, b, mask=mask), (c, s))

"""Feature transforms (adain_nst.nn.transforms) against straightforward re-computations and gradcheck."""

from __future__ import annotations

import pytest
import torch

from adain_nst import AdaIN, InputError, adaptive_instance_norm, calc_mean_std
from adain_nst.nn import transforms
from adain_nst.nn.transforms import EFDM, WCT, adain_affine, adain_target, efdm, transform_mix, wct


def test_calc_mean_std_is_unbiased_with_eps_on_variance() -> None:
    x = torch.randn(2, 3, 5, 7)
    mean, std = calc_mean_std(x, eps=1e-5)
    flat = x.reshape(2, 3, -1)
    n = flat.shape[-1]
    ref_mean = flat.sum(-1) / n
    ref_var = ((flat - ref_mean[..., None]) ** 2).sum(-1) / (n - 1)
    assert mean.shape == std.shape == (2, 3, 1, 1)
    torch.testing.assert_close(mean.flatten(), ref_mean.flatten())
    torch.testing.assert_close(std.flatten(), (ref_var + 1e-5).sqrt().flatten())


def test_adain_output_has_style_statistics() -> None:
    content = torch.rand(2, 4, 8, 8) * 3
    style = torch.rand(2, 4, 6, 10) * 5 + 1  # a different spatial size is allowed
    out = adaptive_instance_norm(content, style, eps=0.0)
    m_out, s_out = calc_mean_std(out, eps=0.0)
    m_sty, s_sty = calc_mean_std(style, eps=0.0)
    torch.testing.assert_close(m_out, m_sty, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s_out, s_sty, atol=1e-5, rtol=1e-5)


def test_module_matches_function_and_alpha_blend() -> None:
    c, s = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    layer = AdaIN()
    torch.testing.assert_close(layer(c, s), adaptive_instance_norm(c, s))
    torch.testing.assert_close(layer(c, s, alpha=0.0), c)
    torch.testing.assert_close(layer(c, s, 0.25), 0.25 * adaptive_instance_norm(c, s) + 0.75 * c)


def test_gradcheck_float64() -> None:
    c = torch.rand(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.rand(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(adaptive_instance_norm, (c, s))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_fused_affine_equals_the_reference_mix(alpha: float) -> None:
    c = torch.rand(2, 6, 7, 9) * 4
    styles = [torch.rand(1, 6, 5, 5) * 2 + 1, torch.rand(2, 6, 8, 3)]
    weights = [0.25, 0.75]
    expected = adain_target(c, styles, weights, alpha)
    torch.testing.assert_close(adain_affine(c, styles, weights, alpha), expected, atol=1e-5, rtol=1e-5)
    # bf16 features keep their dtype; statistics are float32 inside
    got = adain_affine(c.bfloat16(), styles, weights, alpha)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, atol=0.1, rtol=0.02)


@pytest.mark.parametrize(
    "shape", [(1, 3, 8, 8), (2, 32, 40, 48), (1, 16, 300, 257)], ids=["tiny", "chunked", "chunked+rest"]
)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_fused_statistics_match_float64_on_every_route(shape: tuple[int, ...], channels_last: bool) -> None:
    # ReLU-like features (mean of the order of the std), as the chunked sums are built for.
    x = torch.randn(shape).relu() + 0.1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    var, mean = transforms._var_mean(x)
    ref_var, ref_mean = torch.var_mean(x.double().flatten(2), dim=2, correction=1)
    assert var.shape == mean.shape == (shape[0], shape[1], 1, 1) and var.dtype == torch.float32
    torch.testing.assert_close(mean.double().flatten(), ref_mean.flatten(), rtol=1e-6, atol=0)
    torch.testing.assert_close(var.double().flatten(), ref_var.flatten(), rtol=1e-5, atol=0)


def test_bad_feature_shapes_raise() -> None:
    with pytest.raises(InputError, match="same C"):
        adaptive_instance_norm(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 4))
    with pytest.raises(InputError, match="too small"):
        calc_mean_std(torch.rand(1, 3, 1, 1))


def _cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.reshape(x.shape[0], x.shape[1], -1).double()
    mean = flat.mean(-1, keepdim=True)
    centred = flat - mean
    return centred @ centred.transpose(1, 2) / (flat.shape[-1] - 1), mean


def test_wct_output_has_the_style_mean_and_covariance() -> None:
    content = torch.randn(2, 8, 20, 20) * 3 + 1
    mix = torch.randn(8, 8)
    style = torch.einsum("ij,bjhw->bihw", mix, torch.randn(1, 8, 15, 30)) + 2  # correlated channels, other size
    out = wct(content, style, eps=0.0)
    cov_o, mean_o = _cov(out)
    cov_s, mean_s = _cov(style)
    torch.testing.assert_close(cov_o, cov_s.expand_as(cov_o), atol=1e-4 * float(cov_s.abs().max()), rtol=0)
    torch.testing.assert_close(mean_o, mean_s.expand_as(mean_o), atol=1e-4, rtol=0)
    assert out.shape == content.shape and out.dtype == content.dtype


def test_wct_is_robust_to_rank_deficient_and_tiny_maps() -> None:
    content = torch.randn(1, 32, 3, 4)  # 12 pixels for 32 channels: covariance of rank 11
    style = torch.randn(1, 32, 2, 3)
    content[:, 5] = 0.0  # a dead channel
    out = wct(content, style)
    assert torch.isfinite(out).all()
    assert float(out.abs().max()) < 100 * float(style.abs().max())


def test_efdm_takes_the_style_values_rank_for_rank() -> None:
    content = torch.randn(2, 4, 10, 10)
    style = torch.randn(2, 4, 10, 10) * 5 + 3
    out = efdm(content, style)
    flat_o, flat_c = out.reshape(2, 4, -1), content.reshape(2, 4, -1)
    torch.testing.assert_close(flat_o.sort(-1).values, style.reshape(2, 4, -1).sort(-1).values)
    assert torch.equal(flat_o.argsort(-1), flat_c.argsort(-1))  # the content's order is kept


def test_efdm_of_unequal_sizes_matches_the_style_quantiles() -> None:
    content = torch.randn(1, 2, 8, 8)  # 64 values per channel
    style = torch.arange(32, dtype=torch.float32).view(1, 1, 4, 8).repeat(1, 2, 1, 1)  # quantiles known
    out = efdm(content, style).reshape(1, 2, -1).sort(-1).values
    expected = ((torch.arange(64) + 0.5) * 0.5 - 0.5).clamp(0, 31)  # linear quantiles of 0..31
    torch.testing.assert_close(out[0, 0], expected)


@pytest.mark.parametrize("name", ["adain", "wct", "efdm"])
def test_alpha_zero_gives_the_content_and_weights_interpolate(name: str) -> None:
    content = torch.randn(1, 6, 9, 9)
    a, b = torch.randn(1, 6, 7, 7) * 2, torch.randn(1, 6, 11, 5) + 1
    torch.testing.assert_close(transform_mix(name, content, [a], [1.0], alpha=0.0), content)
    only_a = transform_mix(name, content, [a, b], [1.0, 0.0])
    torch.testing.assert_close(only_a, transform_mix(name, content, [a], [1.0]))
    half = transform_mix(name, content, [a, b], [0.5, 0.5], alpha=0.4)
    expected = 0.4 * (0.5 * transform_mix(name, content, [a], [1.0]) + 0.5 * transform_mix(name, content, [b], [1.0]))
    torch.testing.assert_close(half, expected + 0.6 * content, atol=1e-5, rtol=1e-5)


def test_modules_match_functions_and_unknown_names_are_refused() -> None:
    c, s = torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(WCT()(c, s), wct(c, s))
    torch.testing.assert_close(EFDM()(c, s, 0.5), 0.5 * efdm(c, s) + 0.5 * c)
    with pytest.raises(InputError, match="transform must be one of"):
        transform_mix("gram", c, [s], [1.0])
    with pytest.raises(InputError, match="style batch"):
        wct(torch.rand(2, 3, 4, 4), torch.rand(3, 3, 4, 4))

"""Feature transforms (adain_nst.nn.transforms) against straightforward re-computations and gradcheck."""

from __future__ import annotations

import pytest
import torch

from adain_nst import AdaIN, InputError, adaptive_instance_norm, calc_mean_std
from adain_nst.nn.transforms import adain_affine, adain_target


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


def test_bad_feature_shapes_raise() -> None:
    with pytest.raises(InputError, match="same C"):
        adaptive_instance_norm(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 4))
    with pytest.raises(InputError, match="too small"):
        calc_mean_std(torch.rand(1, 3, 1, 1))

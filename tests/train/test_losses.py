"""The AdaIN paper's losses against straightforward loops; names apart from the Gatys losses."""

from __future__ import annotations

import pytest
import torch

import adain_nst.optimization as gatys_module
from adain_nst import InputError
from adain_nst.train import STYLE_LAYERS, adain_content_loss, moment_style_loss, style_layers_for


def test_content_loss_is_the_mean_squared_error() -> None:
    a, b = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 6)
    torch.testing.assert_close(adain_content_loss(a, b), ((a - b) ** 2).mean())
    with pytest.raises(InputError, match="content's size"):
        adain_content_loss(a, b[..., :5])


def test_style_loss_matches_a_loop_over_layers_and_channels() -> None:
    outs = [torch.randn(2, c, 8, 7, dtype=torch.float64) for c in (3, 5)]
    styles = [torch.randn(2, c, 6, 9, dtype=torch.float64) for c in (3, 5)]  # sizes may differ
    expected = torch.zeros((), dtype=torch.float64)
    for o, s in zip(outs, styles, strict=True):
        flat_o, flat_s = o.flatten(2), s.flatten(2)
        om, sm = flat_o.mean(2), flat_s.mean(2)
        osd, ssd = (flat_o.var(2) + 1e-5).sqrt(), (flat_s.var(2) + 1e-5).sqrt()
        expected += ((om - sm) ** 2).mean() + ((osd - ssd) ** 2).mean()
    torch.testing.assert_close(moment_style_loss(outs, styles), expected)
    assert float(moment_style_loss(outs, outs)) == 0.0


def test_layer_weights_scale_each_term() -> None:
    outs = [torch.randn(2, c, 8, 7, dtype=torch.float64) for c in (3, 5, 2)]
    styles = [torch.randn(1, c, 6, 9, dtype=torch.float64) for c in (3, 5, 2)]
    terms = [moment_style_loss([o], [s]) for o, s in zip(outs, styles, strict=True)]
    weights = (100.0, 0.0, 3.0)
    torch.testing.assert_close(
        moment_style_loss(outs, styles, weights), sum(w * t for w, t in zip(weights, terms, strict=True))
    )
    torch.testing.assert_close(moment_style_loss(outs, styles, (1.0, 1.0, 1.0)), moment_style_loss(outs, styles))
    with pytest.raises(InputError, match="one style layer weight per layer"):
        moment_style_loss(outs, styles, (1.0, 2.0))


def test_a_single_style_broadcasts_over_the_batch() -> None:
    outs = [torch.randn(3, 4, 6, 6)]
    style = [torch.randn(1, 4, 5, 5)]
    expanded = [style[0].expand(3, -1, -1, -1)]
    torch.testing.assert_close(moment_style_loss(outs, style), moment_style_loss(outs, expanded))
    with pytest.raises(InputError, match="one style feature map"):
        moment_style_loss(outs, [])


def test_style_layers_per_level() -> None:
    assert STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    assert style_layers_for("relu4_1") == STYLE_LAYERS == style_layers_for("relu2_1")
    assert style_layers_for("relu5_1") == (*STYLE_LAYERS, "relu5_1")
    with pytest.raises(InputError, match="level"):
        style_layers_for("relu4_2")


def test_names_differ_from_the_gatys_losses() -> None:
    names = set(dir(gatys_module))
    assert not {"adain_content_loss", "moment_style_loss"} & names

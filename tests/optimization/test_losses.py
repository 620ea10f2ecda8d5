"""Gatys losses: the functional terms against straightforward loops, and the cached criterion."""

from __future__ import annotations

import pytest
import torch

from adain_nst import InputError, VGGEncoder
from adain_nst.optimization import (
    DEFAULT_STYLE_LAYERS,
    GatysLoss,
    content_loss,
    default_weights,
    gram_matrix,
    style_loss,
    total_variation,
)

from .helpers import small_encoder, smooth_image, texture_image


# -- functional losses against straightforward loops -----------------------------------------
def test_gram_matrix_matches_loops() -> None:
    feat = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    b, c, h, w = feat.shape
    expected = torch.zeros(b, c, c, dtype=torch.float64)
    for n in range(b):
        for i in range(c):
            for j in range(c):
                expected[n, i, j] = sum(feat[n, i, y, x] * feat[n, j, y, x] for y in range(h) for x in range(w))
    torch.testing.assert_close(gram_matrix(feat, normalize=False), expected)
    torch.testing.assert_close(gram_matrix(feat), expected / (c * h * w))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "nhwc"])
def test_gram_matrix_gradient_in_both_layouts(layout: torch.memory_format) -> None:
    # The Gram has its own backward (one product): check it numerically, and the value, per layout.
    feat = torch.randn(2, 4, 3, 5, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (feat,))
    flat = feat.detach().reshape(2, 4, 15)
    torch.testing.assert_close(gram_matrix(feat), flat @ flat.transpose(1, 2) / 60)


def test_content_loss_matches_mean_squared_difference() -> None:
    a, b = torch.randn(2, 4, 3, 3, dtype=torch.float64), torch.randn(2, 4, 3, 3, dtype=torch.float64)
    expected = sum(float((x - y) ** 2) for x, y in zip(a.flatten(), b.flatten(), strict=True)) / a.numel()
    assert content_loss(a, b).item() == pytest.approx(expected, rel=1e-12)
    # A single target broadcasts over the batch.
    assert content_loss(a, b[:1]).item() == pytest.approx(float(((a - b[:1]) ** 2).mean()), rel=1e-12)
    with pytest.raises(InputError, match="size"):
        content_loss(a, b[..., :2])


def test_style_loss_matches_gram_mse() -> None:
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    s = torch.randn(1, 3, 6, 5, dtype=torch.float64)  # the style may have another size
    fx, fs = x.reshape(3, -1), s.reshape(3, -1)
    gx, gs = (fx @ fx.T) / x[0].numel(), (fs @ fs.T) / s[0].numel()
    expected = sum(float((gx[i, j] - gs[i, j]) ** 2) for i in range(3) for j in range(3)) / 9
    assert style_loss(x, s).item() == pytest.approx(expected, rel=1e-12)
    assert style_loss(x, gram_matrix(s)).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(InputError):
        style_loss(x, torch.zeros(1, 4, 4))


def test_total_variation_matches_loops() -> None:
    img = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    b, c, h, w = img.shape
    vert = [
        float(img[n, k, y + 1, x] - img[n, k, y, x]) ** 2
        for n in range(b)
        for k in range(c)
        for y in range(h - 1)
        for x in range(w)
    ]
    horiz = [
        float(img[n, k, y, x + 1] - img[n, k, y, x]) ** 2
        for n in range(b)
        for k in range(c)
        for y in range(h)
        for x in range(w - 1)
    ]
    expected = sum(vert) / len(vert) + sum(horiz) / len(horiz)
    assert total_variation(img).item() == pytest.approx(expected, rel=1e-12)
    assert total_variation(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0
    with pytest.raises(InputError):
        total_variation(torch.rand(1, 3, 1, 4))


def test_losses_gradcheck_float64() -> None:
    feat = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    img = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: gram_matrix(f), (feat,))
    assert torch.autograd.gradcheck(lambda f: content_loss(f, target), (feat,))
    assert torch.autograd.gradcheck(lambda f: style_loss(f, target), (feat,))
    assert torch.autograd.gradcheck(total_variation, (img,))


def test_criterion_gradcheck_float64() -> None:
    enc = small_encoder(last_layer="relu2_1", widths=(2, 3, 3, 3, 3)).double()
    crit = GatysLoss(
        enc, content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), style_weight=10.0, tv_weight=0.5
    )
    crit.set_targets(torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.rand(1, 3, 6, 6, dtype=torch.float64))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(crit, (x,), eps=1e-6, atol=1e-5)


def test_criterion_equals_weighted_sum_of_functional_losses(enc: VGGEncoder) -> None:
    content, style, x = smooth_image(1), texture_image(2), smooth_image(3)
    c_layers = {"relu3_1": 0.3, "relu4_2": 0.7}
    s_layers = {"relu1_1": 2.0, "relu3_1": 0.5, "relu5_1": 1.0}
    crit = GatysLoss(
        enc, content_layers=c_layers, style_layers=s_layers, content_weight=3.0, style_weight=50.0, tv_weight=0.1
    )
    crit.set_targets(content, style)
    names = [*c_layers, *s_layers]
    fx, fc, fs = enc(x, names), enc(content, names), enc(style, names)
    exp_c = sum(w * ((fx[n] - fc[n]) ** 2).mean() for n, w in c_layers.items())
    exp_s = sum(w * ((gram_matrix(fx[n]) - gram_matrix(fs[n])) ** 2).mean() for n, w in s_layers.items())
    got = crit.losses(x)
    torch.testing.assert_close(got["content"], 3.0 * exp_c)
    torch.testing.assert_close(got["style"], 50.0 * exp_s)
    torch.testing.assert_close(got["tv"], 0.1 * total_variation(x))
    torch.testing.assert_close(crit(x), got["content"] + got["style"] + got["tv"])
    assert set(got) >= {"content/relu3_1", "content/relu4_2", "style/relu1_1", "style/relu5_1"}


def test_plain_layer_list_gets_equal_weights_summing_to_one(enc: VGGEncoder) -> None:
    crit = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS)
    assert crit.style_layers == {n: pytest.approx(0.2) for n in DEFAULT_STYLE_LAYERS}
    # Without layers or weights the criterion is the one gatys() uses for this encoder family.
    d = default_weights(enc)
    crit = GatysLoss(enc)
    assert crit.style_layers == d.style_layers and crit.style_weight == d.style_weight


def test_targets_are_encoded_once_and_cached(enc: VGGEncoder) -> None:
    calls: list[int] = []
    handle = enc.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        crit = GatysLoss(enc)
        crit.set_targets(smooth_image(1, 32), [texture_image(2, 32), texture_image(3, 32)])
        assert len(calls) == 3  # content + two styles
        x = smooth_image(4, 32).requires_grad_(True)
        for _ in range(4):
            crit(x).backward()
        assert len(calls) == 3 + 4  # one encoder pass per evaluation, none for the targets
    finally:
        handle.remove()


def test_style_blend_gradient_equals_weighted_per_style_losses(enc: VGGEncoder) -> None:
    content, s1, s2 = smooth_image(1), texture_image(2), smooth_image(5)
    x = smooth_image(3).requires_grad_(True)

    def grad(crit: GatysLoss) -> torch.Tensor:
        x.grad = None
        crit(x).backward()
        assert x.grad is not None
        return x.grad.clone()

    blended = GatysLoss(enc, content_weight=0.0, style_weight=1.0)
    blended.set_targets(content, [s1, s2], [1.0, 3.0])  # normalised to 0.25, 0.75
    one, two = (GatysLoss(enc, content_weight=0.0, style_weight=1.0) for _ in range(2))
    one.set_targets(content, s1)
    two.set_targets(content, s2)
    # sum_i w_i |G - G_i|^2 = |G - sum_i w_i G_i|^2 + const when sum_i w_i = 1: same gradient.
    torch.testing.assert_close(grad(blended), 0.25 * grad(one) + 0.75 * grad(two), rtol=1e-4, atol=1e-9)


def test_criterion_needs_targets(enc: VGGEncoder) -> None:
    with pytest.raises(InputError, match="set_content"):
        GatysLoss(enc).losses(smooth_image(0))

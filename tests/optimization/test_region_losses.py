"""Gatys with masks: region-restricted Gram matrices and losses, and the loop pulling each region to its style."""

from __future__ import annotations

import pytest
import torch

from adain_nst import InputError, MaskError, VGGEncoder
from adain_nst.masks import fit_masks, resize_masks
from adain_nst.optimization import DEFAULT_STYLE_LAYERS, GatysLoss, gatys, gram_matrix

from .helpers import smooth_image, texture_image


def test_masked_gram_matrix_matches_a_loop() -> None:
    feat = torch.rand(2, 3, 4, 5)
    mask = torch.rand(1, 1, 4, 5)
    got = gram_matrix(feat, mask=mask)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                expected = sum(
                    float(mask[0, 0, y, x] * feat[b, i, y, x] * feat[b, j, y, x]) for y in range(4) for x in range(5)
                )
                expected /= 3 * float(mask.sum())
                assert abs(float(got[b, i, j]) - expected) < 1e-5
    torch.testing.assert_close(gram_matrix(feat, mask=torch.ones(1, 1, 4, 5)), gram_matrix(feat))
    torch.testing.assert_close(
        gram_matrix(feat, False, mask=mask)[0], (feat[0] * mask[0]).flatten(1) @ feat[0].flatten(1).T
    )
    with pytest.raises(InputError, match="Gram mask must be"):
        gram_matrix(feat, mask=torch.ones(1, 1, 4, 4))


def test_one_whole_image_region_is_the_plain_style_loss(enc: VGGEncoder) -> None:
    image, style = smooth_image(0, 32), texture_image(1, 32)
    plain = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS, content_weight=0.0, style_weight=1.0)
    plain.set_style(style)
    masked = GatysLoss(enc, style_layers=DEFAULT_STYLE_LAYERS, content_weight=0.0, style_weight=1.0)
    masked.set_style([style], masks=torch.ones(1, 1, 32, 32))
    with torch.no_grad():
        a, b = plain.losses(image), masked.losses(image)
    for key in ("style", *(f"style/{n}" for n in DEFAULT_STYLE_LAYERS)):
        torch.testing.assert_close(a[key], b[key])


def _region_losses(
    enc: VGGEncoder, image: torch.Tensor, styles: list[torch.Tensor], masks: torch.Tensor
) -> list[float]:
    """Per region, the Gram loss of ``image`` inside it against each style: ``[[own, other], ...]`` flattened."""
    layers = list(DEFAULT_STYLE_LAYERS)
    with torch.no_grad():
        feats = enc(image, layers)
        targets = [enc(s, layers) for s in styles]
    out = []
    for k in range(masks.shape[1]):
        for t in (targets[k], targets[1 - k]):
            total = 0.0
            for name in layers:
                m = resize_masks(masks[:, k : k + 1], feats[name].shape[-2:])
                total += float((gram_matrix(feats[name], mask=m) - gram_matrix(t[name])).pow(2).mean())
            out.append(total)
    return out


def test_gatys_with_masks_pulls_each_region_to_its_style(enc: VGGEncoder) -> None:
    content = smooth_image(2, 48)
    styles = [texture_image(3, 48), smooth_image(4, 48) * 0.5]
    left = torch.zeros(48, 48)
    left[:, :24] = 1.0
    masks = fit_masks([left, 1 - left], (48, 48))
    before = _region_losses(enc, content, styles, masks)
    out = gatys(content, styles, masks=[left, 1 - left], encoder=enc, steps=15, style_weight=1e4, progress=False)
    after = _region_losses(enc, out, styles, masks)
    own_a, other_a, own_b, other_b = after
    assert own_a < 0.5 * before[0] and own_b < 0.5 * before[2]  # each region's own Gram loss falls
    assert own_a < other_a and own_b < other_b  # and ends closer to its own style than to the other
    # a None style leaves its region to the content loss alone; the styled region still moves
    half = gatys(content, [styles[0], None], masks=[left, 1 - left], encoder=enc, steps=15, style_weight=1e4,
                 progress=False)  # fmt: skip
    moved = (half - content).abs()
    assert float(moved[..., :20].mean()) > 2 * float(moved[..., 28:].mean())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"style": [None, None]}, InputError, "every style is None"),
        ({"style_weights": [1.0, 1.0]}, InputError, "each style has its region"),
        ({"masks": [torch.ones(32, 32)]}, MaskError, r"got 1 mask\(s\) for 2 style\(s\)"),
        ({"masks": [torch.ones(32, 32), torch.zeros(32, 32)]}, MaskError, "mask 1 is empty"),
        ({"masks": None, "style": [texture_image(1, 32), None]}, InputError, "needs masks"),
    ],
)
def test_masked_gatys_option_errors(enc: VGGEncoder, kwargs: dict, error: type, message: str) -> None:
    args = {"style": [texture_image(1, 32), smooth_image(2, 32)], "masks": [torch.ones(32, 32)] * 2, **kwargs}
    with pytest.raises(error, match=message):
        gatys(smooth_image(0, 32), args.pop("style"), encoder=enc, steps=1, progress=False, **args)

"""Multi-level stylisation (adain_nst.multilevel) on tiny random families and the bundled cd16x family."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import adain_nst
from adain_nst import AdaINModel, InputError, MultiLevelModel, samples
from adain_nst.architecture import LEVELS


@pytest.fixture(scope="module")
def family() -> MultiLevelModel:
    """A random family with pairs at every level (He-initialised so the features are not flat)."""
    from conftest import he_tiny_pairs, make_tiny_model

    pairs = he_tiny_pairs()
    adain = make_tiny_model("relu4_1", seed=9)
    return MultiLevelModel(pairs, adain, transform="wct", levels=("relu4_1", "relu3_1", "relu2_1"))


@pytest.mark.parametrize("transform", ["adain", "wct", "efdm"])
def test_multi_level_equals_the_composition_of_single_levels(family: MultiLevelModel, transform: str) -> None:
    content, style = torch.rand(3, 48, 40), torch.rand(3, 32, 32)
    levels = ["relu5_1", "relu3_1", "relu1_1"]
    out = family.stylize(content, style, 0.8, transform=transform, levels=levels)
    step = content
    for lvl in levels:  # each single-level call pads, crops and clamps: the cascade does the same
        step = family.pairs[lvl].stylize(step, style, 0.8, transform=transform)
    assert out.shape == content.shape
    torch.testing.assert_close(out, step, atol=2e-5, rtol=0)


@pytest.mark.parametrize("transform", ["adain", "wct"])
def test_per_element_styles_equal_one_call_per_element(family: MultiLevelModel, transform: str) -> None:
    # run_cascade(assignment=...) (dataset batches: each image its own style) against one call each.
    from adain_nst import pipeline

    cascade = family.cascade(transform, ["relu4_1", "relu2_1"])
    contents = torch.rand(3, 3, 40, 48)
    styles = [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 36, 28)]  # different sizes: not stackable
    feats = pipeline.encode_styles(cascade, styles, dtype=torch.float32, backend="engine")
    alphas = dict.fromkeys(cascade.levels, 0.9)
    assignment = [1, 0, 1]
    with torch.inference_mode():
        batch = pipeline.run_cascade(
            cascade, contents, feats, [1.0], alphas, dtype=torch.float32, backend="engine", assignment=assignment
        )
        for b, j in enumerate(assignment):
            one = {lvl: [feats[lvl][j]] for lvl in cascade.levels}
            single = pipeline.run_cascade(
                cascade, contents[b : b + 1], one, [1.0], alphas, dtype=torch.float32, backend="engine"
            )
            torch.testing.assert_close(batch[b : b + 1], single, atol=1e-5, rtol=0)
        with pytest.raises(InputError, match="assignment names 2 styles for a batch of 3"):
            pipeline.run_cascade(
                cascade, contents, feats, [1.0], alphas, dtype=torch.float32, backend="engine", assignment=[0, 1]
            )


@pytest.mark.parametrize("transform", ["adain", "wct", "efdm"])
def test_engine_equals_reference_and_forward(family: MultiLevelModel, transform: str) -> None:
    content, style = torch.rand(2, 3, 37, 45), torch.rand(1, 3, 32, 32)
    fast = family.stylize(content, style, transform=transform, levels=LEVELS[::-1])
    slow = family.stylize(content, style, transform=transform, levels=LEVELS[::-1], backend="reference")
    # EFDM sorts: values that differ by float rounding between the two backends may swap ranks,
    # which moves a few pixels by a quantile step; everything else agrees to rounding.
    diff = (fast - slow).abs()
    assert float(diff.mean()) < 1e-5 and float(diff.max()) < (1e-3 if transform == "efdm" else 1e-4)
    with torch.no_grad():
        raw = family(content, style, transform=transform, levels=LEVELS[::-1])
    torch.testing.assert_close(raw.clamp(0, 1), slow, atol=1e-5, rtol=0)


def test_defaults_single_pass_and_level_alpha(family: MultiLevelModel) -> None:
    content, style = torch.rand(3, 32, 32), torch.rand(3, 32, 32)
    assert family.cascade().transform == "wct" and family.cascade().levels == ("relu4_1", "relu3_1", "relu2_1")
    # relu4_1 alone with AdaIN is the paper's single pass on the AdaIN-trained model.
    torch.testing.assert_close(
        family.stylize(content, style, transform="adain", levels=["relu4_1"]), family.adain.stylize(content, style)
    )
    # level_alpha 0 at a level makes that level reconstruct.
    zero = family.stylize(content, style, levels=["relu3_1"], level_alpha={"relu3_1": 0.0})
    torch.testing.assert_close(zero, family.stylize(content, style, 0.0, levels=["relu3_1"]))
    with pytest.raises(InputError, match="coarse to fine"):
        family.stylize(content, style, levels=["relu1_1", "relu3_1"])
    with pytest.raises(InputError, match="unknown level"):
        family.stylize(content, style, levels=["relu6_1"])
    with pytest.raises(InputError, match="does not run"):
        family.stylize(content, style, levels=["relu3_1"], level_alpha={"relu2_1": 0.5})
    with pytest.raises(InputError, match="transform must be one of"):
        family.stylize(content, style, transform="gram")


def test_style_feature_cache_gives_identical_results(family: MultiLevelModel) -> None:
    contents = [torch.rand(1, 3, 32, 40), torch.rand(1, 3, 40, 32)]
    styles = [torch.rand(1, 3, 32, 32), torch.rand(1, 3, 24, 48)]
    feats = family.encode_style(styles, fast=True)
    assert set(feats) == set(family.default_levels)
    for c in contents:
        direct = family.stylize(c, styles, style_weights=[0.3, 0.7])
        cached = family.stylize(c, style_feats=feats, style_weights=[0.3, 0.7])
        torch.testing.assert_close(cached, direct, atol=0, rtol=0)
    with pytest.raises(InputError, match="no features at"):
        family.stylize(contents[0], style_feats=feats, levels=["relu5_1"])


def test_single_level_models_refuse_other_levels(tiny_model: Callable[..., AdaINModel]) -> None:
    model = tiny_model()
    with pytest.raises(InputError, match="needs a model family"):
        adain_nst.stylize(torch.rand(3, 32, 32), torch.rand(3, 32, 32), model=model, levels=["relu3_1"])
    wct_out = model.stylize(torch.rand(3, 32, 32), torch.rand(3, 32, 32), transform="wct")
    assert wct_out.shape == (3, 32, 32)


def test_bundled_family_default_look_and_every_transform() -> None:
    model = adain_nst.load_model()
    assert isinstance(model, MultiLevelModel) and model.levels == tuple(reversed(LEVELS))
    content, style = samples.path("chelsea"), samples.path("van_gogh_wheat_field_with_cypresses")
    photo = np.asarray(adain_nst.load_image(content).resize((96, 64)))
    for transform in (None, "adain", "wct", "efdm"):
        out = adain_nst.stylize(photo, style, transform=transform, style_size=128)
        assert out.shape == photo.shape and out.dtype == np.uint8
        # stylised, not the photo: a clear change in every case
        assert np.abs(out.astype(float) - photo).mean() > 10

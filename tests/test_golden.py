"""Parity with the reference pytorch-AdaIN outputs in $ADAIN_NST_TEST_DATA/golden.

Driven entirely by cases.json, so other sets in the same format run unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from adain_nst import AdaINModel, adaptive_instance_norm, coral

ATOL = 1e-4


def _cases() -> list[dict]:
    import os

    root = os.environ.get("ADAIN_NST_TEST_DATA")
    path = Path(root, "golden", "cases.json") if root else None
    if path is None or not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason="ADAIN_NST_TEST_DATA/golden/cases.json not found"))]
    return [pytest.param(c, id=c["id"]) for c in json.loads(path.read_text())["cases"]]


@pytest.fixture(scope="module")
def golden(golden_dir: Path) -> dict:
    meta = json.loads((golden_dir / "cases.json").read_text())
    files = meta["weights"]["files"]
    model = AdaINModel.from_reference_checkpoint(golden_dir / files["vgg"], golden_dir / files["decoder"])
    return {
        "model": model,
        "inputs": load_file(golden_dir / "inputs.safetensors"),
        "outputs": load_file(golden_dir / "outputs.safetensors"),
    }


@pytest.mark.parametrize("case", _cases())
def test_case_matches_reference(golden: dict, case: dict) -> None:
    model, inputs, outputs = golden["model"], golden["inputs"], golden["outputs"]
    content = inputs[case["content"]][None]
    styles = [inputs[k][None] for k in case["styles"]]
    tensors = case["tensors"]
    with torch.no_grad():
        out = model(
            content,
            styles if len(styles) > 1 else styles[0],
            case["alpha"],
            style_weights=case["interpolation_weights"],
            preserve_color=case["preserve_color"],
        )[0]
        expected = outputs[tensors["output"]["key"]]
        assert out.shape == expected.shape == tuple(tensors["output"]["shape"])
        torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
        if "content_feat" in tensors:
            torch.testing.assert_close(
                model.encode(content)[0], outputs[tensors["content_feat"]["key"]], atol=ATOL, rtol=0
            )
        if "style_feat" in tensors:
            torch.testing.assert_close(
                model.encode(styles[0])[0], outputs[tensors["style_feat"]["key"]], atol=ATOL, rtol=0
            )
        if "adain_feat" in tensors:
            got = adaptive_instance_norm(model.encode(content), model.encode(styles[0]))[0]
            torch.testing.assert_close(got, outputs[tensors["adain_feat"]["key"]], atol=ATOL, rtol=0)
        if "style_after_coral" in tensors:
            got = coral(styles[0][0], content[0])
            torch.testing.assert_close(got, outputs[tensors["style_after_coral"]["key"]], atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", _cases())
def test_case_matches_reference_through_stylize(golden: dict, case: dict) -> None:
    """The user-facing path (engine, float32 default) gives the reference outputs too (clamped to [0, 1])."""
    model, inputs, outputs = golden["model"], golden["inputs"], golden["outputs"]
    content = inputs[case["content"]]
    styles = [inputs[k] for k in case["styles"]]
    out = model.stylize(
        content,
        styles if len(styles) > 1 else styles[0],
        case["alpha"],
        style_weights=case["interpolation_weights"],
        preserve_color=case["preserve_color"],
    )
    expected = outputs[case["tensors"]["output"]["key"]].clamp(0, 1)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)

"""The shared argument checks (adain_nst._checks): one vocabulary, one error class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adain_nst import InputError
from adain_nst._checks import check_alpha, check_image_batch, check_layers, check_positive_int, check_style_weights


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "a", "0.5", None, True, [0.5]])
def test_alpha_outside_unit_interval_or_not_a_number_is_rejected(alpha: object) -> None:
    with pytest.raises(InputError, match="alpha"):
        check_alpha(alpha)  # type: ignore[arg-type]


@pytest.mark.parametrize("alpha", [0, 1, 0.5, np.float32(0.25), torch.tensor(0.75)])
def test_numbers_of_any_kind_are_accepted(alpha: object) -> None:
    assert check_alpha(alpha) == pytest.approx(float(alpha))  # type: ignore[arg-type]


def test_style_weights_validation_and_normalisation() -> None:
    assert check_style_weights([1, 3], 2) == [0.25, 0.75]
    assert check_style_weights(None, 4) == [0.25] * 4
    with pytest.raises(InputError, match="2 style"):
        check_style_weights([1.0], 2)
    with pytest.raises(InputError, match=">= 0"):
        check_style_weights([1.0, -1.0], 2)
    with pytest.raises(InputError, match="all be 0"):
        check_style_weights([0.0, 0.0], 2)
    with pytest.raises(InputError, match="numbers"):
        check_style_weights(["x", 1], 2)  # type: ignore[list-item]


def test_image_batch_and_layer_and_int_checks() -> None:
    x = torch.rand(2, 3, 4, 4)
    assert check_image_batch(x) is x
    with pytest.raises(InputError, match=r"content must be a \(B, 3, H, W\) tensor, got \(3, 4, 4\)"):
        check_image_batch(torch.rand(3, 4, 4), "content")
    with pytest.raises(InputError, match="0 pixels"):
        check_image_batch(torch.rand(1, 3, 0, 4))
    assert check_layers(("relu1_1",), ["conv1_1", "relu1_1"]) == ["relu1_1"]
    with pytest.raises(InputError, match=r"unknown layer\(s\) \['relu9_9'\].*conv1_1 \.\. relu1_1"):
        check_layers(["relu9_9"], ["conv1_1", "relu1_1"])
    with pytest.raises(InputError, match="not the string"):
        check_layers("relu1_1", ["relu1_1"])
    assert check_positive_int(3, "steps") == 3
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(InputError, match="steps"):
            check_positive_int(bad, "steps")

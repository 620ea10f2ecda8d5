"""PSNR of low-precision output against float32 (bf16 on purpose; tiny, so emulated bf16 is fine)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from adain_nst import AdaINModel
from adain_nst.bench import dtype_quality, eval_pairs, psnr


def test_psnr() -> None:
    a = torch.zeros(4, 4)
    assert psnr(a, a) == math.inf
    assert psnr(a + 0.1, a) == pytest.approx(20.0)
    assert psnr(a + 0.1, a, peak=10.0) == pytest.approx(40.0)


def test_eval_pairs_without_a_folder_are_seeded_noise() -> None:
    contents, styles, what = eval_pairs(32, 2)
    assert len(contents) == len(styles) == 2 and "random" in what
    assert contents[0].shape == (1, 3, 32, 32) and 0 <= float(contents[0].min()) <= float(contents[0].max()) <= 1
    again, _, _ = eval_pairs(32, 2)
    torch.testing.assert_close(again[1], contents[1], atol=0, rtol=0)


def test_dtype_quality_of_float32_is_exact(tiny_model: Callable[..., AdaINModel]) -> None:
    q = dtype_quality(tiny_model(), torch.float32, size=32, pairs=1)
    assert q["dtype"] == "float32" and q["psnr_db_min"] == math.inf


def test_bfloat16_quality_on_real_weights_and_photos(cd16x_dir: Path, eval_dir: Path) -> None:
    model = AdaINModel.from_cd16x_checkpoint(cd16x_dir / "e4.pth", cd16x_dir / "d4.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # emulated bf16 on CPUs without it: slow, not wrong
        q = dtype_quality(model, torch.bfloat16, size=64, pairs=2, eval_dir=eval_dir)
    assert q["dtype"] == "bfloat16" and q["images"] == "2 eval photo/painting pairs"
    assert q["psnr_db_min"] >= 35.0

"""Decoder: every level, upscaling, the final-ReLU option, cd16x d1..d5 reconstruct their encoders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adain_nst import Decoder, DecoderConfig, VGGEncoder, load_image
from adain_nst.architecture import LEVELS, block_of
from adain_nst.image import resize_shorter, to_tensor


@pytest.mark.parametrize("level", LEVELS)
def test_decoder_upsamples_to_the_encoders_stride(level: str) -> None:
    k = block_of(level)
    decoder = Decoder(DecoderConfig(widths=(4, 8, 8, 8, 8)[:k], level=level))
    out = decoder(torch.rand(2, decoder.in_channels, 3, 5))
    assert decoder.upscale == 2 ** (k - 1)
    assert out.shape == (2, 3, 3 * decoder.upscale, 5 * decoder.upscale)


def test_final_relu_option() -> None:
    for final_relu in (False, True):
        decoder = Decoder(DecoderConfig(widths=(4, 8, 8, 8), final_relu=final_relu))
        out = decoder(torch.rand(2, 8, 3, 5))
        assert out.shape == (2, 3, 24, 40)
        assert bool((out >= 0).all()) if final_relu else bool((out < 0).any())


def test_cd16x_pairs_reconstruct_at_every_level(cd16x_dir: Path, eval_dir: Path) -> None:
    photo = next((eval_dir / "content").iterdir())
    x = resize_shorter(to_tensor(load_image(photo))[0], 64)[..., :64, :64]
    errors = []
    for k in range(1, 6):
        enc = VGGEncoder.from_cd16x_checkpoint(cd16x_dir / f"e{k}.pth")
        dec = Decoder.from_cd16x_checkpoint(cd16x_dir / f"d{k}.pth")
        assert dec.level == f"relu{k}_1" and dec.config.final_relu
        with torch.no_grad():
            out = dec(enc(x, (dec.level,))[dec.level])
        assert out.shape == x.shape
        errors.append(float((out.clamp(0, 1) - x).abs().mean()))
    # Reconstruction decoders invert their encoders: small errors, growing with depth.
    assert errors[0] < 0.03 and errors[-1] < 0.2
    assert errors == sorted(errors)

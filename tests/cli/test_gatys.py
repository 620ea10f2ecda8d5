"""`adain-nst gatys`: output, intermediates, GIF, one-line errors; the GIF writer it uses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from optimization.helpers import small_encoder, smooth_image, texture_image
from PIL import Image

from adain_nst import InputError
from adain_nst.cli import main
from adain_nst.image import save_animation


# -- command line and animation -------------------------------------------------------------------
def _png(path: Path, image: torch.Tensor) -> str:
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(path)
    return str(path)


def test_cli_gatys_writes_output_intermediates_and_gif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enc_path = tmp_path / "enc.pth"
    torch.save(small_encoder().state_dict(), enc_path)  # our own key layout
    content = _png(tmp_path / "c.png", smooth_image(1, 48)[..., :40, :])
    style = _png(tmp_path / "s.png", texture_image(2, 32))
    out, gif = tmp_path / "out" / "r.png", tmp_path / "anim.gif"
    args = ["gatys", content, style, "-o", str(out), "--encoder", str(enc_path), "--steps", "6", "--size", "32"]
    rc = main([*args, "--save-every", "3", "--animation", str(gif), "--style-weight", "100", "--json"])
    assert rc == 0
    summary = __import__("json").loads(capsys.readouterr().out)
    assert summary["output"] == str(out) and summary["frames"] == 2  # step 3 and the final image (step 6)
    assert sorted(Path(p).name for p in summary["intermediates"]) == ["r_step0003.png", "r_step0006.png"]
    assert set(summary["losses"]) == {"total", "content", "style", "tv"}
    with Image.open(out) as im:
        assert im.size == (38, 32)  # 40x48 content, shorter side 32
    with Image.open(gif) as im:
        assert im.is_animated and im.n_frames == 2 and im.size == (38, 32)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_cli_gatys_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = _png(tmp_path / "c.png", smooth_image(1, 32))
    assert main(["gatys", content, str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o.png")]) == 2
    assert "image file not found" in capsys.readouterr().err
    assert main(["gatys", content, content, "-o", str(tmp_path / "o.png"), "--animation", "a.mp4"]) == 2
    assert ".gif" in capsys.readouterr().err
    assert main(["gatys", content, content, "-o", str(tmp_path / "o.xyz")]) == 2
    assert "unknown image format" in capsys.readouterr().err


def test_save_animation_resizes_coarse_frames(tmp_path: Path) -> None:
    frames = [torch.rand(1, 3, 16, 20), torch.rand(3, 32, 40)]
    path = save_animation(frames, tmp_path / "a.gif")
    with Image.open(path) as im:
        assert im.n_frames == 2 and im.size == (40, 32)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not the private mode of a temp file
    with pytest.raises(InputError, match="gif"):
        save_animation(frames, tmp_path / "a.png")

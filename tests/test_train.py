"""Decoder training: a 20-step smoke run, exact resume, bad images skipped, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from adain_nst import EncoderConfig, InputError, VGGEncoder
from adain_nst.cli import main
from adain_nst.train import TrainConfig, train


def _images(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # smooth blobs, not white noise
        img = Image.fromarray(base).resize((48 + 8 * i, 40), Image.BICUBIC)
        img.save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    encoder = VGGEncoder(EncoderConfig(widths=(4, 8, 8, 8, 8)))
    with torch.no_grad():  # He init: PyTorch's default gives a tiny random VGG near-constant features
        for m in encoder.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.zero_()
    enc_path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(enc_path))
    return {
        "content": _images(tmp_path / "content", 4, 1),
        "style": _images(tmp_path / "style", 3, 2),
        "encoder": enc_path,
        "root": tmp_path,
    }


def _config(data: dict[str, Path], out: str, **kw: object) -> TrainConfig:
    options = dict(iters=20, batch_size=4, size=40, crop=32, lr=3e-2, style_weight=1.0, checkpoint_every=5, log_every=5)
    options.update(kw)
    return TrainConfig(
        content_dir=str(data["content"]),
        style_dir=str(data["style"]),
        encoder=str(data["encoder"]),
        out=str(data["root"] / out),
        **options,  # type: ignore[arg-type]
    )


def test_twenty_steps_lower_the_loss_and_write_outputs(data: dict[str, Path]) -> None:
    result = train(_config(data, "run"), progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    out = result.out
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [5, 10, 15, 20]
    assert (out / "checkpoint.pt").exists() and (out / "decoder.safetensors").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_resume_reproduces_the_uninterrupted_run_exactly(data: dict[str, Path]) -> None:
    full = train(_config(data, "full", iters=8), progress=False)
    part = train(_config(data, "part", iters=8), progress=False, stop_after=5)
    assert part.step == 5
    resumed = train(_config(data, "part", iters=8), progress=False, resume=True)
    assert resumed.step == 8
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history[5:]]
    from adain_nst.checkpoints import load_decoder_any

    trained = load_decoder_any(resumed.out / "checkpoint.pt")  # usable for stylising mid-run
    torch.testing.assert_close(trained.state_dict(), load_decoder_any(full.out / "decoder.safetensors").state_dict())
    with pytest.raises(InputError, match="resume"):
        train(_config(data, "part", iters=8), progress=False)


def test_unreadable_images_are_skipped_and_counted(data: dict[str, Path]) -> None:
    (data["content"] / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="unreadable"):
        result = train(_config(data, "skip", iters=4), progress=False)
    assert result.skipped_images == 1 and result.step == 4


def test_bad_options_are_rejected(data: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="crop"):
        train(_config(data, "bad", crop=64), progress=False)
    with pytest.raises(InputError, match="iters"):
        train(_config(data, "bad", iters=0), progress=False)


def test_cli_train_runs(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = data["root"] / "cli"
    args = ["train", "--content-dir", str(data["content"]), "--style-dir", str(data["style"])]
    args += ["--encoder", str(data["encoder"]), "--out", str(out), "--iters", "3", "--batch-size", "2"]
    args += ["--size", "40", "--crop", "32"]
    assert main(args) == 0
    assert "step 3/3" in capsys.readouterr().out
    assert (out / "decoder.safetensors").exists()

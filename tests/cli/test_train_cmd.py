"""The ``adain-nst train`` command: a 3-step run through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from train.helpers import write_images

from adain_nst import EncoderConfig, VGGEncoder
from adain_nst.cli import main


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
        "content": write_images(tmp_path / "content", 4, 1),
        "style": write_images(tmp_path / "style", 3, 2),
        "encoder": enc_path,
        "root": tmp_path,
    }


def test_cli_train_runs(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = data["root"] / "cli"
    args = ["train", "--content-dir", str(data["content"]), "--style-dir", str(data["style"])]
    args += ["--encoder", str(data["encoder"]), "--out", str(out), "--iters", "3", "--batch-size", "2"]
    args += ["--size", "40", "--crop", "32"]
    assert main(args) == 0
    assert "step 3/3" in capsys.readouterr().out
    assert (out / "decoder.safetensors").exists()


def test_cli_style_layer_weights(data: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    def args(out: str, weights: str) -> list[str]:
        return ["train", "--content-dir", str(data["content"]), "--style-dir", str(data["style"]),
                "--encoder", str(data["encoder"]), "--out", str(data["root"] / out), "--iters", "1",
                "--batch-size", "2", "--size", "40", "--crop", "32", "--style-layer-weights", weights]  # fmt: skip

    out = data["root"] / "weighted"
    assert main(args("weighted", "100,10,3,1")) == 0
    recorded = torch.load(out / "checkpoint.pt", weights_only=True)["config"]["style_layer_weights"]
    assert tuple(recorded) == (100.0, 10.0, 3.0, 1.0)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(args("bad", "100,ten"))
    assert exc.value.code == 2 and "comma-separated numbers" in capsys.readouterr().err
    assert main(args("short", "1,2")) == 2
    assert "give one weight each" in capsys.readouterr().err

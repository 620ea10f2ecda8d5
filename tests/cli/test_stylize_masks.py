"""``adain-nst stylize`` with spatial control: --mask, 'none' styles, --label-map/--labels, --region-alpha, and
bad masks (exit 2, one stderr line, nothing written)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from optimization.helpers import small_encoder
from PIL import Image

from adain_nst import AdaINModel
from adain_nst.cli import main


@pytest.fixture()
def files(tmp_path: Path, tiny_model: Callable[..., AdaINModel]) -> dict[str, Path]:
    folder = tmp_path / "model"
    model = tiny_model()
    with torch.no_grad():  # He init: PyTorch's default leaves a tiny net's output near-constant
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
    model.save_pretrained(folder)
    rng = np.random.default_rng(0)
    for name, size in (("c.png", (32, 48)), ("s0.jpg", (32, 32)), ("s1.jpg", (32, 32))):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / name)
    left = np.zeros((32, 48), np.uint8)
    left[:, :24] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(255 - left).save(tmp_path / "right.png")
    labels = np.zeros((32, 48, 3), np.uint8)
    labels[:, :24] = (255, 0, 0)
    labels[:, 24:] = (0, 0, 255)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    return {"model": folder, "root": tmp_path}


def _run(files: dict[str, Path], *args: str) -> int:
    root = files["root"]
    return main(["stylize", str(root / "c.png"), *args, "--model", str(files["model"])])


def _one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for w in words:
        assert w in err[0], err[0]
    return err[0]


def test_masks_one_per_style_and_json(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    r = files["root"]
    out = r / "out.png"
    args = [str(r / "s0.jpg"), str(r / "s1.jpg"), "--mask", str(r / "left.png"), "--mask", str(r / "right.png")]
    assert _run(files, *args, "-o", str(out), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["outputs"][0]["styles"] == [str(r / "s0.jpg"), str(r / "s1.jpg")]
    assert Image.open(out).size == (48, 32)


def test_none_style_region_alpha_and_label_map_agree(files: dict[str, Path]) -> None:
    r = files["root"]
    masks = ["--mask", str(r / "left.png"), "--mask", str(r / "right.png")]
    assert _run(files, str(r / "s0.jpg"), "none", *masks, "-o", str(r / "none.png")) == 0
    both = [str(r / "s0.jpg"), str(r / "s1.jpg")]
    assert _run(files, *both, *masks, "--region-alpha", "1,0", "-o", str(r / "alpha.png")) == 0
    # the label map's colours in ascending order: #0000ff (right), #ff0000 (left)
    assert _run(files, str(r / "s1.jpg"), str(r / "s0.jpg"), "--label-map", str(r / "labels.png"), "--region-alpha",
                "0,1", "-o", str(r / "labels_out.png")) == 0  # fmt: skip
    # only the red label is styled; the rest keeps the content
    assert _run(files, str(r / "s0.jpg"), "--label-map", str(r / "labels.png"), "--labels", "#ff0000",
                "-o", str(r / "red.png")) == 0  # fmt: skip
    pictures = [np.asarray(Image.open(r / n), dtype=np.int16) for n in ("none.png", "alpha.png", "labels_out.png")]
    pictures.append(np.asarray(Image.open(r / "red.png"), dtype=np.int16))
    for p in pictures[1:]:
        assert np.abs(p - pictures[0]).max() <= 1
    assert _run(files, str(r / "s0.jpg"), "-o", str(r / "plain.png")) == 0
    assert _run(files, str(r / "s0.jpg"), "--alpha", "0", "-o", str(r / "kept.png")) == 0
    plain, kept = (np.asarray(Image.open(r / n), dtype=np.int16) for n in ("plain.png", "kept.png"))
    assert plain.std() > 10  # a real picture, not a flat one
    # the right region keeps the content: it is near what alpha 0 gives, unlike the styled picture
    right = (slice(None), slice(32, None))
    assert np.abs(pictures[0] - kept)[right].mean() < 0.5 * np.abs(plain - kept)[right].mean()


def test_colour_modes_per_mask(files: dict[str, Path]) -> None:
    r = files["root"]
    masks = ["--mask", str(r / "left.png"), "--mask", str(r / "right.png")]
    both = [str(r / "s0.jpg"), str(r / "s1.jpg")]
    assert _run(files, *both, *masks, "--preserve-color", "luminance,none", "-o", str(r / "o.png")) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{s0}", "{s1}", "--mask", "{left}"], ["got 1 mask(s) for 2 style(s)"]),
        (["{s0}", "--mask", "{bad}"], ["not an image file", "bad.png"]),
        (["{s0}", "--mask", "{missing}"], ["image file not found"]),
        (["{s0}", "{s1}", "--mask", "{left}", "--mask", "{black}"], ["mask 1 is empty"]),
        (["{s0}", "--mask", "{square}"], ["aspect ratio"]),
        (["{s0}", "{s1}", "--label-map", "{labels}", "--labels", "#00ff00,#ff0000"], ["#00ff00 does not occur"]),
        (["{s0}", "{s1}", "{s0}", "--label-map", "{labels}"], ["2 region(s) (#0000ff, #ff0000) for 3 style(s)"]),
        (["{s0}", "--mask", "{left}", "--region-alpha", "2"], ["region_alpha[0] must be in [0, 1]"]),
        (["{s0}", "--region-alpha", "0.5"], ["--region-alpha needs --mask"]),
        (["{s0}", "--labels", "1"], ["--labels names the regions of a --label-map"]),
        (["{s0}", "none"], ["'none' marks a region that keeps the content"]),
        (["{s0}", "--preserve-color", "coral,none"], ["needs --mask"]),
        (["{s0}", "{s1}", "--mask", "{left}", "--mask", "{right}", "--style-weights", "1,2"], ["own region"]),
        (["{s0}", "--mask", "{left}", "--label-map", "{labels}"], ["not both"]),
        (["{root}", "--mask", "{left}"], ["not a directory"]),
    ],
)
def test_bad_masks_exit_2_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], args: list[str], words: list[str]
) -> None:
    r = files["root"]
    (r / "bad.png").write_bytes(b"this is not a png")
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(r / "black.png")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(r / "square.png")
    names = {
        "s0": r / "s0.jpg",
        "s1": r / "s1.jpg",
        "left": r / "left.png",
        "right": r / "right.png",
        "bad": r / "bad.png",
        "missing": r / "missing.png",
        "black": r / "black.png",
        "square": r / "square.png",
        "labels": r / "labels.png",
        "root": r,
    }
    out = r / "never.png"
    assert _run(files, *[a.format(**{k: str(v) for k, v in names.items()}) for a in args], "-o", str(out)) == 2
    _one_error_line(capsys, *words)
    assert not out.exists()


def test_a_content_folder_with_masks(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    r = files["root"]
    contents = r / "contents"
    contents.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(contents / "wide.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(contents / "square.png")
    out = r / "outs"
    args = [str(contents), str(r / "s0.jpg"), str(r / "s1.jpg"), "--mask", str(r / "left.png")]
    code = main(["stylize", *args, "--mask", str(r / "right.png"), "-o", f"{out}/", "--model", str(files["model"])])
    assert code == 3  # the square content does not fit the 3:2 masks: named, the other one is written
    assert Image.open(out / "wide_regions.png").size == (96, 64)
    assert not (out / "square_regions.png").exists()
    assert "square.png" in capsys.readouterr().err


def test_gatys_takes_the_same_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enc_path = tmp_path / "enc.pth"
    torch.save(small_encoder().state_dict(), enc_path)
    rng = np.random.default_rng(2)
    for name in ("c.png", "s.png"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    left = np.zeros((32, 32), np.uint8)
    left[:, :16] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    base = ["gatys", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "none", "--encoder", str(enc_path)]
    base += ["--steps", "2", "--size", "32", "--mask", str(tmp_path / "left.png")]
    assert main([*base, "--mask", str(tmp_path / "left.png"), "-o", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (32, 32)
    capsys.readouterr()
    assert main([*base, "-o", str(tmp_path / "bad.png")]) == 2
    _one_error_line(capsys, "got 1 mask(s) for 2 style(s)")
    assert not (tmp_path / "bad.png").exists()

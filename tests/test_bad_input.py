"""A generated corpus of bad inputs walked through the Python API and the CLI.

Every case must give an ``adain_nst`` error of the right class with a one-line message (API), or
exit 2 with one ``error: ...`` line and no traceback (CLI; 3 for a folder job in which some inputs
failed), and leave no file behind: no output, no temporary file. Inputs of odd modes (16-bit,
CMYK, palette, grayscale with alpha, 1-bit, float) are converted, not refused.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adain_nst
from adain_nst import (
    AdaINModel,
    AdainNSTError,
    CheckpointError,
    ConfigError,
    ImageReadError,
    ImageTooLargeError,
    InputError,
    WeightsNotFoundError,
)
from adain_nst.cli import main

BUNDLED = Path(adain_nst.__file__).parent / "_weights" / "cd16x"


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, png_declaring: Callable[[int, int], bytes]) -> dict[str, Path]:
    """Good and bad files: images, a tiny model folder and weights (bundled cd16x copies, damaged ones)."""
    root = tmp_path_factory.mktemp("corpus")
    files: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        files[name] = root / name
        files[name].write_bytes(data)

    Image.fromarray(_noise(32, 40)).save(root / "good.png")
    Image.fromarray(_noise(48, 32, 1)).save(root / "good.jpg", quality=90)
    files.update(good=root / "good.png", good_jpg=root / "good.jpg")
    png, jpg = files["good"].read_bytes(), files["good_jpg"].read_bytes()
    put("truncated.png", png[: len(png) // 2])
    put("truncated.jpg", jpg[: len(jpg) // 3])
    put("corrupt.jpg", jpg[:20] + bytes(np.random.default_rng(2).integers(0, 256, 2000, dtype=np.uint8)))
    put("empty.jpg", b"")
    put("text.jpg", b"this is not a picture\n")
    put("bomb.png", png_declaring(100_000, 100_000))
    put("huge.png", png_declaring(15_000, 14_000))  # 210 MP declared: above the 200 MP limit
    Image.fromarray(_noise(1, 1)).save(root / "tiny1.png")
    Image.fromarray(_noise(8, 40)).save(root / "tiny8.png")
    files.update(tiny1=root / "tiny1.png", tiny8=root / "tiny8.png")
    (root / "folder.png").mkdir()
    files["folder.png"] = root / "folder.png"
    files["missing.png"] = root / "missing.png"
    # Odd modes that must be converted, not refused.
    modes = {
        "deep16.png": Image.fromarray(_noise(24, 24)[..., 0].astype(np.uint16) * 257),
        "cmyk.jpg": Image.fromarray(_noise(24, 24)).convert("CMYK"),
        "palette.png": Image.fromarray(_noise(24, 24)).convert("P"),
        "gray_alpha.png": Image.fromarray(_noise(24, 24)).convert("LA"),
        "bilevel.png": Image.fromarray(_noise(24, 24)).convert("1"),
        "float.tif": Image.fromarray(_noise(24, 24)[..., 0].astype(np.float32) / 255.0),
    }
    for name, im in modes.items():
        im.save(root / name)
        files[name] = root / name
    # Weights: the bundled cd16x e4/e5/d4; damaged and foreign files.
    for name in ("e4", "e5", "d4"):
        shutil.copy(BUNDLED / f"{name}.safetensors", root / f"{name}.safetensors")
        files[name] = root / f"{name}.safetensors"
    dec = files["d4"].read_bytes()
    put("d4_truncated.safetensors", dec[: len(dec) // 2])
    put("text.pth", b"hello, I am a text file\n")
    put("empty.pth", b"")
    put("image.pth", png)
    files["missing.pth"] = root / "missing.pth"
    return files


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory, tiny_model: Callable[..., AdaINModel]) -> Path:
    """A tiny relu4_1 model (conftest's widths) saved as a model folder."""
    folder = tmp_path_factory.mktemp("tiny") / "model"
    tiny_model().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tiny_folder: Path) -> AdaINModel:
    return AdaINModel.from_pretrained(tiny_folder)


BAD_IMAGES = {
    "truncated.png": (ImageReadError, "truncated"),
    "truncated.jpg": (ImageReadError, "truncated"),
    "corrupt.jpg": (ImageReadError, "corrupt.jpg"),
    "empty.jpg": (ImageReadError, "empty.jpg"),
    "text.jpg": (ImageReadError, "not an image"),
    "bomb.png": (ImageTooLargeError, "100000x100000 px"),
    "huge.png": (ImageTooLargeError, "210 MP), above the 200 MP limit"),
    "tiny1": (InputError, "needs at least 9 px per side"),
    "tiny8": (InputError, "needs at least 9 px per side"),
    "folder.png": (ImageReadError, "directory"),
    "missing.png": (ImageReadError, "not found"),
}
GOOD_MODES = ("deep16.png", "cmyk.jpg", "palette.png", "gray_alpha.png", "bilevel.png", "float.tif")


def _one_line_error(exc: BaseException, cls: type[BaseException], text: str) -> None:
    assert type(exc) is cls, f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, AdainNSTError)
    message = str(exc)
    assert "\n" not in message and text in message, message


# -- the Python API ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_files_through_the_api(
    corpus: dict[str, Path], tiny: AdaINModel, tmp_path: Path, name: str, role: str
) -> None:
    cls, text = BAD_IMAGES[name]
    bad, good = str(corpus[name]), str(corpus["good"])
    content, style = (bad, good) if role == "content" else (good, bad)
    with pytest.raises(cls) as info:
        adain_nst.stylize(content, style, model=tiny)
    _one_line_error(info.value, cls, text)
    if role == "style" and cls is InputError:
        assert "style 0" in str(info.value)


@pytest.mark.parametrize("name", GOOD_MODES)
def test_odd_modes_are_converted(corpus: dict[str, Path], tiny: AdaINModel, name: str) -> None:
    out = adain_nst.stylize(str(corpus[name]), str(corpus["good"]), model=tiny)
    assert out.mode == "RGB" and out.size == (24, 24)


@pytest.mark.parametrize(
    ("value", "cls", "text"),
    [
        ([1, 2, 3], InputError, "unsupported type"),  # as a style: a list of styles, the first an int
        ({"a": 1}, InputError, "unsupported type dict"),
        (42, InputError, "unsupported type int"),
        (b"\x89PNG", InputError, "unsupported type bytes"),
        ("no/such/photo.jpg", ImageReadError, "not found"),
        (np.zeros((16, 16, 3), np.int32), InputError, "dtype int32"),
        (np.zeros((16, 16, 5), np.uint8), InputError, "shape"),
        (torch.randint(0, 9, (3, 16, 16)), InputError, "dtype torch.int64"),
        (torch.rand(3, 16, 16) * 255, InputError, "divide by 255"),
        (torch.full((3, 16, 16), float("nan")), InputError, "NaN"),
        (torch.rand(3, 0, 32), InputError, "0 pixels"),
        (np.zeros((0, 32, 3), np.uint8), InputError, "0 pixels"),
        (torch.rand(3, 4, 4), InputError, "at least 9 px"),
        (torch.rand(5, 16, 16), InputError, "channel"),
    ],
)
def test_wrong_types_and_tensors_through_the_api(tiny: AdaINModel, value: object, cls: type, text: str) -> None:
    good = torch.rand(3, 32, 32)
    for content, style in ((value, good), (good, value)):
        with pytest.raises(cls) as info:
            adain_nst.stylize(content, style, model=tiny)  # type: ignore[arg-type]
        _one_line_error(info.value, cls, text)


WEIGHTS = {
    "mismatched": ("e5", "d4", ConfigError, "do not belong together"),
    "swapped": ("d4", "e4", ConfigError, "holds an encoder, not a decoder"),
    "truncated decoder": ("e4", "d4_truncated.safetensors", CheckpointError, "d4_truncated.safetensors"),
    "text encoder": ("text.pth", "d4", CheckpointError, "text file"),
    "empty encoder": ("empty.pth", "d4", CheckpointError, "empty"),
    "image as encoder": ("image.pth", "d4", CheckpointError, "PNG image"),
    "missing encoder": ("missing.pth", "d4", WeightsNotFoundError, "missing.pth"),
}


@pytest.mark.parametrize("case", sorted(WEIGHTS))
def test_bad_weights_through_the_api(corpus: dict[str, Path], case: str) -> None:
    enc, dec, cls, text = WEIGHTS[case]
    with pytest.raises(cls) as info:
        adain_nst.model_from_files(corpus[enc], corpus[dec])
    _one_line_error(info.value, cls, text)
    with pytest.raises(cls):
        adain_nst.stylize(str(corpus["good"]), str(corpus["good"]), model=(corpus[enc], corpus[dec]))


# -- the CLI ---------------------------------------------------------------------------------------------
def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_error_line(err: str, text: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_image_files_through_the_cli(
    corpus: dict[str, Path],
    tiny_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    role: str,
) -> None:
    _, text = BAD_IMAGES[name]
    bad, good = str(corpus[name]), str(corpus["good"])
    content, style = (bad, good) if role == "content" else (good, bad)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _, err = _cli(["stylize", content, style, "-o", str(out_dir / "o.png"), "--model", str(tiny_folder)], capsys)
    assert code == 2
    if name == "folder.png":  # a folder is a folder job: of no images here
        text = f"no {role} images"
    _assert_one_error_line(err, text)
    assert list(out_dir.iterdir()) == []  # no output, no temporary file


def test_a_folder_of_bad_files_and_one_good_exits_3_and_writes_the_good_one(
    corpus: dict[str, Path], tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contents = tmp_path / "contents"
    contents.mkdir()
    for n in [*(n for n in BAD_IMAGES if corpus[n].is_file()), "good", *GOOD_MODES]:
        shutil.copy(corpus[n], contents / corpus[n].name)
    (contents / "._good.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    out = tmp_path / "out"
    args = ["stylize", str(contents), str(corpus["good"]), "-o", str(out), "--json", "--model", str(tiny_folder)]
    code, stdout, err = _cli(args, capsys)
    assert code == 3
    summary = json.loads(stdout)
    bad_names = {corpus[n].name for n in BAD_IMAGES if corpus[n].is_file()}
    assert {Path(f["content"]).name for f in summary["failed"]} == bad_names
    good_outputs = sorted(f"{Path(n).stem}_good.png" for n in ["good.png", *GOOD_MODES])
    assert sorted(Path(o["output"]).name for o in summary["outputs"]) == good_outputs
    assert sorted(p.name for p in out.iterdir()) == good_outputs  # nothing partial or temporary
    assert len(err.strip().splitlines()) == len(bad_names) and "Traceback" not in err


@pytest.mark.parametrize("case", sorted(WEIGHTS))
def test_bad_weights_through_the_cli(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    enc, dec, _, text = WEIGHTS[case]
    out = tmp_path / "o.png"
    good = str(corpus["good"])
    args = ["stylize", good, good, "-o", str(out), "--encoder", str(corpus[enc]), "--decoder", str(corpus[dec])]
    code, _, err = _cli(args, capsys)
    assert code == 2
    _assert_one_error_line(err, text)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--device", "gpu0"], "unknown device 'gpu0'"),
        (["--alpha", "1.5"], "alpha must be in [0, 1]"),
        (["--content-size", "0"], "--content-size must be >= 1"),
        (["--style-weights", "1,2"], "style_weights has 2 entries"),
        (["--ext", "xyz"], ""),  # single pair: --ext is only used for folder outputs
    ],
)
def test_bad_options_through_the_cli_before_the_model(
    corpus: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    text: str,
) -> None:
    monkeypatch.setattr("adain_nst.cli._options.get_model", lambda *a, **k: pytest.fail("a model was loaded"))
    good = str(corpus["good"])
    out = tmp_path / "o.png"
    if not text:
        args = ["stylize", good, good, "-o", str(tmp_path / "o.xyz"), *extra]
        text = "unknown image format"
    else:
        args = ["stylize", good, good, "-o", str(out), *extra]
    code, _, err = _cli(args, capsys)
    assert code == 2
    _assert_one_error_line(err, text)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra", [["--alpha", "abc"], ["--content-size", "256.7"], ["--content-size", "x"]])
def test_non_numbers_are_usage_errors(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    good = str(corpus["good"])
    with pytest.raises(SystemExit) as info:
        main(["stylize", good, good, "-o", str(tmp_path / "o.png"), *extra])
    assert info.value.code == 2 and "invalid" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cuda_without_a_gpu_is_refused_before_the_model(
    corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr("adain_nst.cli._options.get_model", lambda *a, **k: pytest.fail("a model was loaded"))
    good = str(corpus["good"])
    code, _, err = _cli(["stylize", good, good, "-o", str(tmp_path / "o.png"), "--device", "cuda"], capsys)
    assert code == 2
    _assert_one_error_line(err, "CUDA is not available")


def test_save_image_and_load_image_refuse_the_corpus(corpus: dict[str, Path], tmp_path: Path) -> None:
    for name, (cls, _) in BAD_IMAGES.items():
        if cls is InputError:  # too small for a network, but a readable image
            assert adain_nst.load_image(corpus[name]).size[0] >= 1
            continue
        with pytest.raises(cls):
            adain_nst.load_image(corpus[name])
    with pytest.raises(InputError, match="divide by 255"):
        adain_nst.save_image(torch.rand(3, 8, 8) * 255, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []

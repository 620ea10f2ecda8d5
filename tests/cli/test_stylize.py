"""The ``adain-nst stylize`` command: single pairs, directories, JSON summary, errors, exit statuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain_nst import AdaINModel
from adain_nst.cli import main


@pytest.fixture()
def files(tmp_path: Path, tiny_model: Callable[..., AdaINModel]) -> dict[str, Path]:
    folder = tmp_path / "model"
    tiny_model().save_pretrained(folder)
    rng = np.random.default_rng(0)
    (tmp_path / "contents").mkdir()
    (tmp_path / "styles").mkdir()
    for i, size in enumerate([(40, 30), (33, 47)]):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / "contents" / f"c{i}.png")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "styles" / f"s{i}.jpg")
    return {
        "enc": folder / "encoder.safetensors",
        "dec": folder / "decoder.safetensors",
        "model": folder,
        "root": tmp_path,
    }


def _model_args(files: dict[str, Path]) -> list[str]:
    return ["--encoder", str(files["enc"]), "--decoder", str(files["dec"])]


def test_single_pair_writes_the_content_size(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "o" / "result.jpg"
    content = files["root"] / "contents" / "c1.png"
    style = files["root"] / "styles" / "s0.jpg"
    assert main(["stylize", str(content), str(style), "-o", str(out), "--alpha", "0.5", *_model_args(files)]) == 0
    assert Image.open(out).size == (47, 33)
    assert "wrote" in capsys.readouterr().out


def test_model_folder_and_output_directory(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "outdir"
    out.mkdir()
    args = ["stylize", str(files["root"] / "contents" / "c0.png"), str(files["root"] / "styles" / "s0.jpg")]
    assert main([*args, "-o", str(out), "--model", str(files["model"]), "--ext", "jpg"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out / 'c0_stylized.jpg'}"
    assert Image.open(out / "c0_stylized.jpg").size == (30, 40)


def test_interpolation_and_json_summary(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    styles = [str(files["root"] / "styles" / f"s{i}.jpg") for i in range(2)]
    out = files["root"] / "mix.png"
    args = ["stylize", str(files["root"] / "contents" / "c0.png"), *styles, "-o", str(out)]
    assert (
        main([*args, "--style-weights", "0.3,0.7", "--json", "--preserve-color", "luminance", *_model_args(files)]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 1 and summary["outputs"][0]["styles"] == styles
    assert summary["outputs"][0]["size"] == [30, 40]
    assert summary["dtype"] == "float32" and summary["device"] == "cpu" and summary["failed"] == []


def test_directories_give_every_pair(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "grid"
    args = ["stylize", str(files["root"] / "contents"), str(files["root"] / "styles"), "-o", str(out), "--json"]
    assert main([*args, *_model_args(files)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 6
    assert sorted(p.name for p in out.iterdir()) == sorted(f"c{c}_s{s}.png" for c in range(2) for s in range(3))


def test_folder_job_with_a_bad_input_writes_the_rest_and_exits_3(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    styles = files["root"] / "styles"
    data = (styles / "s1.jpg").read_bytes()
    (styles / "s1.jpg").write_bytes(data[: len(data) // 3])  # truncated
    out = files["root"] / "grid"
    args = ["stylize", str(files["root"] / "contents"), str(styles), "-o", str(out), "--json", *_model_args(files)]
    assert main(args) == 3
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["count"] == 4
    assert sorted(Path(f["output"]).name for f in summary["failed"]) == ["c0_s1.png", "c1_s1.png"]
    assert all("truncated" in f["error"] for f in summary["failed"])
    assert sorted(p.name for p in out.iterdir()) == sorted(f"c{c}_s{s}.png" for c in range(2) for s in (0, 2))
    lines = captured.err.strip().splitlines()
    assert len(lines) == 2 and all(str(styles / "s1.jpg") in line for line in lines)
    assert "Traceback" not in captured.err

    assert main(args[:-5] + _model_args(files)) == 3  # without --json: one summary line on stdout
    assert capsys.readouterr().out.strip() == f"wrote 4 images to {out}; 2 of 6 failed"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alpha", "1.5"], "alpha must be in [0, 1]"),
        (["--style-weights", "1,2"], "style_weights has 2 entries but 1 style"),
        (["--dtype", "float16"], "float16"),
        (["--content-size", "0"], "--content-size must be >= 1"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = files["root"] / "bad.png"
    args = ["stylize", str(files["root"] / "contents" / "c0.png"), str(files["root"] / "styles" / "s0.jpg")]
    assert main([*args, "-o", str(out), *extra, *_model_args(files)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_output_format_is_refused_before_any_work(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    content, styles = files["root"] / "contents" / "c0.png", files["root"] / "styles"
    assert main(["stylize", str(content), str(styles / "s0.jpg"), "-o", str(files["root"] / "x.xyz")]) == 2
    assert "unknown image format" in capsys.readouterr().err
    out = files["root"] / "grid"
    assert main(["stylize", str(content), str(styles), "-o", str(out), "--ext", "xyz", *_model_args(files)]) == 2
    assert "--ext" in capsys.readouterr().err and not out.exists()


def test_missing_and_truncated_inputs(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "x.png"
    style = str(files["root"] / "styles" / "s0.jpg")
    assert main(["stylize", str(files["root"] / "nope.jpg"), style, "-o", str(out), *_model_args(files)]) == 2
    assert "not found" in capsys.readouterr().err
    data = (files["root"] / "styles" / "s1.jpg").read_bytes()
    cut = files["root"] / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    assert main(["stylize", str(cut), style, "-o", str(out), *_model_args(files)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not out.exists() and not list(files["root"].glob(".x.png*"))


def test_encoder_without_decoder_is_rejected(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["stylize", "a.jpg", "b.jpg", "-o", "o.png", "--encoder", str(files["enc"])]
    assert main(args) == 2
    assert "--encoder and --decoder" in capsys.readouterr().err


# -- folder jobs, output names and folders (issue 12) --------------------------------------------------
def test_folder_job_with_a_truncated_content_among_4_makes_every_other_pair(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    contents = files["root"] / "contents"
    rng = np.random.default_rng(1)
    for i in (2, 3):
        Image.fromarray(rng.integers(0, 256, (36, 28, 3), dtype=np.uint8)).save(contents / f"c{i}.png")
    data = (contents / "c1.png").read_bytes()
    (contents / "c1.png").write_bytes(data[: len(data) // 2])  # the 2nd of 4: truncated
    (contents / "._c0.png").write_bytes(b"\x00\x05\x16\x07 macOS AppleDouble")  # ignored, not an error
    styles = files["root"] / "two_styles"
    styles.mkdir()
    for name in ("s0.jpg", "s1.jpg"):
        (styles / name).write_bytes((files["root"] / "styles" / name).read_bytes())
    out = files["root"] / "grid"
    args = ["stylize", str(contents), str(styles), "-o", str(out), "--json", *_model_args(files)]
    assert main(args) == 3
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    written = sorted(f"c{c}_s{s}.png" for c in (0, 2, 3) for s in (0, 1))
    assert summary["count"] == 6 and sorted(Path(o["output"]).name for o in summary["outputs"]) == written
    assert sorted(p.name for p in out.iterdir()) == written  # nothing partial, no temp file
    assert [Path(f["content"]).name for f in summary["failed"]] == ["c1.png", "c1.png"]
    assert all("truncated" in f["error"] for f in summary["failed"])
    assert len(captured.err.strip().splitlines()) == 2 and "._c0" not in captured.err


def test_folder_job_with_colliding_names_writes_every_output(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    contents = files["root"] / "pics"
    contents.mkdir()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(contents / "pic.jpg")
    Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(contents / "pic.png")
    style = files["root"] / "styles" / "s0.jpg"
    out = files["root"] / "out"
    args = ["stylize", str(contents), str(style), str(style), "-o", str(out), "--json", *_model_args(files)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["pic_jpg_s0.png", "pic_png_s0.png"]  # the style given twice is one style
    assert sorted(Path(o["output"]).name for o in summary["outputs"]) == names and summary["count"] == 2


def test_names_that_still_collide_are_refused_before_any_work(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = files["root"] / "pics"
    contents.mkdir()
    for name in ("a_b.png", "a.png"):
        Image.new("RGB", (32, 32)).save(contents / name)
    styles = files["root"] / "st"
    styles.mkdir()
    for name in ("b_c.png", "c.png"):
        Image.new("RGB", (32, 32)).save(styles / name)
    monkeypatch.setattr("adain_nst.cli._options.model_from_files", lambda *a, **k: pytest.fail("model loaded"))
    out = files["root"] / "out"
    assert main(["stylize", str(contents), str(styles), "-o", str(out), *_model_args(files)]) == 2
    assert "a_b_c.png" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("trailing", ["/", ""])
def test_output_to_a_new_or_existing_folder(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], trailing: str
) -> None:
    out = files["root"] / "newdir"
    if not trailing:
        out.mkdir()
    content, style = files["root"] / "contents" / "c0.png", files["root"] / "styles" / "s0.jpg"
    assert main(["stylize", str(content), str(style), "-o", f"{out}{trailing}", *_model_args(files)]) == 0
    assert [p.name for p in out.iterdir()] == ["c0_stylized.png"]
    bare = files["root"] / "nosuffix"
    assert main(["stylize", str(content), str(style), "-o", str(bare), *_model_args(files)]) == 2
    assert f"or a folder as {bare}/" in capsys.readouterr().err and not bare.exists()


def test_bad_output_suffix_in_folder_mode_is_refused_before_the_first_pair(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adain_nst.cli._options.model_from_files", lambda *a, **k: pytest.fail("model loaded"))
    content, styles = files["root"] / "contents", files["root"] / "styles"
    out = files["root"] / "out.xyz"
    assert main(["stylize", str(content / "c0.png"), str(styles / "s0.jpg"), "-o", str(out), *_model_args(files)]) == 2
    assert "unknown image format" in capsys.readouterr().err
    assert main(["stylize", str(content), str(styles), "-o", str(out), "--ext", "xyz", *_model_args(files)]) == 2
    assert not out.exists()


def test_animated_gif_notice_is_one_stderr_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    gif = files["root"] / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    out = files["root"] / "o.png"
    assert (
        main(["stylize", str(gif), str(files["root"] / "styles" / "s0.jpg"), "-o", str(out), *_model_args(files)]) == 0
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "only the first is used" in err[0]


def test_folder_job_encodes_each_style_once_with_the_outputs_of_single_pairs(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from adain_nst import pipeline

    encoded: list[int] = []
    real = pipeline.encode_styles

    def counting(cascade, styles, **kwargs):
        encoded.append(len(styles))
        return real(cascade, styles, **kwargs)

    monkeypatch.setattr(pipeline, "encode_styles", counting)
    root, out = files["root"], files["root"] / "grid"
    args = ["--style-size", "24", "--alpha", "0.8", *_model_args(files)]
    assert main(["stylize", str(root / "contents"), str(root / "styles"), "-o", str(out), "--json", *args]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert encoded == [1, 1, 1]  # three styles, each once for both contents
    names = [f"c{c}_s{s}.png" for c in range(2) for s in range(3)]
    assert [Path(o["output"]).name for o in summary["outputs"]] == names  # in the jobs' order
    for c in range(2):
        for s in range(3):
            single = root / f"single_{c}_{s}.png"
            pair = [str(root / "contents" / f"c{c}.png"), str(root / "styles" / f"s{s}.jpg")]
            assert main(["stylize", *pair, "-o", str(single), *args]) == 0
            assert (out / f"c{c}_s{s}.png").read_bytes() == single.read_bytes()

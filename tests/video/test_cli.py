"""``adain-nst video``: exit 0 with the summary, exit 2 with one line for bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("av", reason='needs the video extra: pip install "adain-nst[video]"')
pytest.importorskip("cv2", reason='needs the video extra: pip install "adain-nst[video]"')

from adain_nst import samples
from adain_nst.cli import main

STYLE = str(samples.path("renoir_landscape"))


def test_video_command_writes_and_summarises(
    make_clip: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_clip("in.mp4", frames=4, size=(48, 32), audio=True)
    out = src.with_name("out.mp4")
    args = ["video", str(src), STYLE, "-o", str(out), "--model", "cd16x-adain", "--stabilize", "stats", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 4 and summary["size"] == [48, 32] and summary["fps"] == 25.0
    assert summary["audio"] is True and summary["stabilize"] == "stats" and summary["dtype"] == "float32"
    assert out.is_file()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "not found"),
        ("text.mp4", "hello", "as a video"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, message: str
) -> None:
    src = tmp_path / name
    if content is not None:
        src.write_text(content)
    assert main(["video", str(src), STYLE, "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_bad_output_suffix_exits_2(make_clip: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    src = make_clip("in.mp4", frames=2)
    assert main(["video", str(src), STYLE, "-o", str(src.with_name("o.avi"))]) == 2
    assert ".mp4" in capsys.readouterr().err

"""The Gradio page, ``adain-nst serve`` and the Space shim (no browser); the import boundary of the web code."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from adain_nst.cli import build_parser, main
from adain_nst.cli import serve as serve_cmd
from adain_nst.web import handlers as h

ROOT = Path(__file__).resolve().parents[2]


def test_serve_binds_localhost_on_7860_by_default() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_upload_mb) == ("127.0.0.1", 7860, h.MAX_UPLOAD_MB)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8080", "--max-upload-mb", "2"])
    assert (args.host, args.port, args.max_upload_mb) == ("0.0.0.0", 8080, 2.0)


def test_neither_the_library_nor_the_cli_help_imports_the_web_code() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import adain_nst\n"
        "from adain_nst.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'serve' in out.getvalue()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('gradio', 'adain_nst.web')))\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_serve_without_the_web_extra_is_a_one_line_user_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # "import gradio" now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "adain_nst.web.app", raising=False)
    import adain_nst.web

    monkeypatch.delattr(adain_nst.web, "app", raising=False)
    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {serve_cmd.WEB_EXTRA_HINT}"


def test_serve_refuses_a_non_positive_upload_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb must be > 0" in capsys.readouterr().err


# The Gradio checks run in a fresh interpreter, so Gradio's global state (and its import time)
# stays out of the suite's process.
GRADIO_PROBE = """
import json, runpy, sys
import gradio as gr
from adain_nst import image
from adain_nst.web import app

facts = {}
demo = app.create_app()
facts["ids"] = sorted(str(b.elem_id) for b in demo.blocks.values() if getattr(b, "elem_id", None))
facts["has_masks"] = app.h.HAS_MASKS

def fake_launch(self, **kwargs):
    facts["launch"] = {k: v for k, v in kwargs.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return None, f"http://{kwargs['server_name']}:{kwargs['server_port']}/", None

gr.Blocks.launch = fake_launch
facts["url"] = app.launch_app(app.create_app(max_upload_mb=3), max_upload_mb=3, block=False)
facts["max_pixels"] = [image.MAX_PIXELS, app.MAX_PIXELS]
launched = facts.pop("launch")
shim = runpy.run_path(sys.argv[1], run_name="space_app")
facts["shim_launched"] = "launch" in facts
facts["shim_demo"] = type(shim["demo"]).__name__
facts["launch"] = launched
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def gradio_facts() -> dict[str, Any]:
    """What the page, :func:`launch_app` (Gradio's launch replaced by a recorder) and the Space shim do."""
    if importlib.util.find_spec("gradio") is None:
        pytest.skip('gradio is not installed: pip install "adain-nst[web]"')
    done = subprocess.run(
        [sys.executable, "-c", GRADIO_PROBE, str(ROOT / "app" / "app.py")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_page_has_the_widgets_the_browser_test_drives(gradio_facts: dict[str, Any]) -> None:
    expected = {"content-upload", "content-sample", "content-status", "style-gallery", "style-names"}
    expected |= {"style-upload", "style-weights", "preview", "full", "status", "result"}
    assert expected <= set(gradio_facts["ids"])
    # The optional mask input is on the page exactly when the library takes masks=.
    assert ("mask-upload" in gradio_facts["ids"]) == gradio_facts["has_masks"] == h.HAS_MASKS


def test_launch_binds_localhost_and_caps_uploads_and_pixels(gradio_facts: dict[str, Any]) -> None:
    launch = gradio_facts["launch"]
    assert gradio_facts["url"] == "http://127.0.0.1:7860/"
    assert launch["server_name"] == "127.0.0.1" and launch["max_file_size"] == 3 * 2**20
    assert launch["show_error"] is False and launch["prevent_thread_lock"] is True
    image_limit, app_limit = gradio_facts["max_pixels"]
    assert image_limit == app_limit < 200_000_000


def test_the_space_shim_builds_the_page_without_serving_it(gradio_facts: dict[str, Any]) -> None:
    assert gradio_facts["shim_demo"] == "Blocks"
    assert gradio_facts["shim_launched"] is False
    assert "adain-nst[web]" in (ROOT / "app" / "requirements.txt").read_text()


def test_the_server_refuses_an_upload_over_the_limit(app_url: str) -> None:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"\xff" * (h.MAX_UPLOAD_MB * 2**20 + 1)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{app_url}gradio_api/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=60)
    assert info.value.code == 413
    assert "maximum allowed size" in info.value.read().decode()


def test_the_browser_tests_say_why_they_skip_without_a_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import browser

    monkeypatch.delenv(browser.CHROMIUM_ENV, raising=False)
    monkeypatch.delenv(browser.CHROMEDRIVER_ENV, raising=False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    reason = browser.missing()
    if importlib.util.find_spec("gradio") and importlib.util.find_spec("selenium"):
        assert reason is not None and "apt-get install chromium chromium-driver" in reason
    else:
        assert reason is not None and "is not installed" in reason

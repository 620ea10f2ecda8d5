"""SIGTERM and SIGINT during a CLI folder job leave no temporary or partial file (a real subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adain_nst import AdaINModel

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Runs the CLI with Pillow's save slowed down: the signal lands while a temporary file is open and
# half written, the moment that used to leave a hidden `.name.png.XXXX.tmp` behind.
RUNNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from PIL import Image

    marker = Path(sys.argv[1])
    original = Image.Image.save

    def slow_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        marker.write_text(str(getattr(fp, "name", "")))
        time.sleep(60)
        original(self, fp, *args, **kwargs)

    Image.Image.save = slow_save
    from adain_nst.cli import main

    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_mid_write_leaves_no_file_behind(
    tmp_path: Path, tiny_model: Callable[..., AdaINModel], sig: signal.Signals, code: int, word: str
) -> None:
    tiny_model().save_pretrained(tmp_path / "model")
    contents = tmp_path / "contents"
    contents.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(contents / f"c{i}.png")
    style = contents / "c0.png"
    out, marker = tmp_path / "out", tmp_path / "writing"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    args = ["stylize", str(contents), str(style), "-o", str(out), "--model", str(tmp_path / "model")]
    proc = subprocess.Popen(
        [sys.executable, str(script), str(marker), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=5)
        assert any(p.name.endswith(".tmp") for p in out.iterdir())  # the temporary file is there now
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == word and "Traceback" not in err
    assert list(out.iterdir()) == []  # no temporary file, no partial output

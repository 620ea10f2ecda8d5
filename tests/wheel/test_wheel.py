"""The wheel users install carries the bundled weights, their licence and the sample images."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from adain_nst.pretrained.registry import BUNDLED_DIR, BUNDLED_FILES

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_weights_samples_and_licences(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("adain_nst-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for record in BUNDLED_FILES.values():
        assert f"adain_nst/{BUNDLED_DIR}/{record.name}" in names
    assert f"adain_nst/{BUNDLED_DIR}/cd16x/LICENSE" in names
    assert "adain_nst/samples/README.md" in names
    assert sum(n.startswith("adain_nst/samples/") and n.endswith(".jpg") for n in names) == 7
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # cd16x in float16 (4.6 MB) and the ImageNet VGG-19 to relu5_1 in 8 bits (13 MB): no float32 copies
    assert wheel.stat().st_size < 22_000_000

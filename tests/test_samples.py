"""The bundled sample images: names, paths, provenance, and the `adain-nst demo` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adain_nst import InputError, load_image, samples
from adain_nst.cli import main


def test_samples_are_listed_found_and_documented() -> None:
    assert samples.names("content") == ["astronaut", "chelsea", "coffee"]
    assert "van_gogh_wheat_field_with_cypresses" in samples.names("style")
    for name in samples.names("content") + samples.names("style"):
        path = samples.path(name)
        assert path.is_file() and load_image(path).size[0] >= 300
        assert f"{path.parent.name}/{path.name}" in samples.provenance()  # every file has its licence row
    assert samples.path("chelsea.jpg") == samples.path("chelsea")
    with pytest.raises(InputError, match=r"no bundled sample called 'dog'.*astronaut"):
        samples.path("dog")
    with pytest.raises(InputError, match="kind"):
        samples.names("paintings")


def test_demo_writes_every_chosen_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "-o", str(tmp_path), "--content", "chelsea", "--style", "monet_etretat", "renoir_landscape",
                 "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 2 and summary["dtype"] == "float32"
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["chelsea_monet_etretat.jpg", "chelsea_renoir_landscape.jpg"]
    assert load_image(tmp_path / written[0]).size == (451, 300)
    assert main(["demo", "-o", str(tmp_path), "--style", "nope"]) == 2

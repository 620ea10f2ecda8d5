"""The ``adain-nst models`` and ``adain-nst download`` commands (download against the local fake Hub)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pretrained.fakehub import FakeHub, model_files, serve, spec_for  # tests/pretrained/fakehub.py

from adain_nst import AdaINModel
from adain_nst.cli import main
from adain_nst.pretrained import registry
from adain_nst.pretrained.folder import MODEL_FILES
from adain_nst.pretrained.registry import DEFAULT_MODEL, ModelSpec

REPO = "adain-nst-test/tiny"
NAME = "tiny-test"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A started FakeHub that huggingface_hub talks to, with an empty cache in tmp_path."""
    fake = serve(monkeypatch, tmp_path / "hf-cache")
    yield fake
    fake.stop()


@pytest.fixture
def published(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Callable[..., AdaINModel]
) -> tuple[AdaINModel, ModelSpec]:
    """A tiny model published on the fake Hub (main), registered as ``tiny-test`` (unpinned)."""
    model = tiny_model(encoder_last="relu5_1", final_relu=True)
    files = model_files(model, tmp_path / "src")
    fake_hub.add_commit(REPO, files)
    spec = spec_for(model, files, None, NAME, REPO)
    monkeypatch.setitem(registry.REGISTRY, NAME, spec)
    return model, spec


def test_cli_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--markdown"]) == 0
    assert capsys.readouterr().out == registry.markdown_table()
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == registry.list_models()
    assert main(["models"]) == 0
    assert DEFAULT_MODEL in capsys.readouterr().out


def test_cli_download(
    published: tuple[AdaINModel, ModelSpec], fake_hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["download", NAME]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert sorted(p.name for p in folder.iterdir()) == sorted(MODEL_FILES)
    assert main(["download", "adain-nst-test/no-such-repo"]) == 2
    assert "not found" in capsys.readouterr().err

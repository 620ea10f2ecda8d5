"""One ONNX export of the bundled AdaIN model per session (skipped without the onnx extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from adain_nst import AdaINModel
from adain_nst.export import OnnxExport, export_onnx


@pytest.fixture(scope="session")
def adain_model() -> AdaINModel:
    import adain_nst

    return adain_nst.load_model("cd16x").adain


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> OnnxExport:
    """The default export (the bundled cd16x AdaIN single pass, dynamo exporter), once: ~10 s."""
    return export_onnx(tmp_path_factory.mktemp("onnx") / "adain.onnx")


def load_runner(path: Path) -> ModuleType:
    """The standalone runner file as a module."""
    spec = importlib.util.spec_from_file_location("adain_onnx_runner", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""ONNX export: onnxruntime equals torch (fp32, two sizes, a batch of 2); WCT/EFDM refused as one graph, split works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason='needs the onnx extra: pip install "adain-nst[onnx]"')
pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install "adain-nst[onnx]"')
pytest.importorskip("onnxscript", reason='needs the onnx extra: pip install "adain-nst[onnx]"')
import torch
from conftest import make_tiny_model

from adain_nst import AdaINModel, MultiLevelModel, samples
from adain_nst.cli import main
from adain_nst.errors import ExportError, InputError
from adain_nst.export import RUNNER_NAME, OnnxExport, export_onnx

from .conftest import load_runner

pytestmark = pytest.mark.slow  # the session export takes ~10 s


def test_graph_is_valid_and_described(exported: OnnxExport) -> None:
    import onnx

    onnx.checker.check_model(str(exported.path), full_check=True)
    proto = onnx.load(str(exported.path))
    names = [i.name for i in proto.graph.input]
    assert names == ["content", "style", "alpha"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))  # dynamic B, H, W
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["adain_nst.levels"] == "relu4_1" and meta["adain_nst.transform"] == "adain"
    assert exported.exporter == "dynamo" and exported.path.with_name(RUNNER_NAME) in exported.files


@pytest.mark.parametrize(("batch", "height", "width", "alpha"), [(1, 61, 77, 1.0), (2, 96, 128, 0.6)])
def test_onnxruntime_equals_torch(
    exported: OnnxExport, adain_model: AdaINModel, batch: int, height: int, width: int, alpha: float
) -> None:
    import onnxruntime as ort

    torch.manual_seed(batch)
    content = torch.rand(batch, 3, height, width)
    style = torch.rand(batch, 3, 50, 70)
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    feeds = {"content": content.numpy(), "style": style.numpy(), "alpha": np.array(alpha, np.float32)}
    got = session.run(None, feeds)[0]
    want = adain_model(content, style, alpha).clamp(0, 1).numpy()  # the reference forward, float32
    assert got.shape == (batch, 3, height, width)
    assert np.abs(got - want).max() < 1e-4
    fast = torch.cat([adain_model.stylize(content[i : i + 1], style[i : i + 1], alpha) for i in range(batch)])
    assert np.abs(got - fast.numpy()).max() < 1e-4  # and the engine that stylize() runs


def test_runner_stylises_without_torch(exported: OnnxExport, tmp_path: Path) -> None:
    runner = exported.path.with_name(RUNNER_NAME)
    out = tmp_path / "out.png"
    # `import torch` (or adain_nst) raises in this interpreter: the runner must not need them.
    code = (
        "import sys, runpy; sys.modules['torch'] = None; sys.modules['adain_nst'] = None; "
        f"sys.argv = {[str(runner), str(exported.path), str(samples.path('chelsea')), str(samples.path('monet_etretat')), '-o', str(out), '--content-size', '64', '--style-size', '64']!r}; "  # noqa: E501
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    assert Image.open(out).size[1] == 64


def test_runner_matches_torch_in_process(exported: OnnxExport, adain_model: AdaINModel) -> None:
    runner = load_runner(exported.path.with_name(RUNNER_NAME))
    net = runner.load(exported.path)
    content = runner.read_image(samples.path("coffee"), 48)
    style = runner.read_image(samples.path("renoir_landscape"), 40)
    got = net.stylize(np.repeat(content, 2, axis=0), style, 0.8)  # a style of batch 1 is shared
    want = adain_model.stylize(torch.from_numpy(content), torch.from_numpy(style), 0.8).numpy()
    assert got.shape[0] == 2 and np.abs(got - want).max() < 1e-4


def test_wct_and_efdm_are_refused_as_one_graph(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="eigendecomposition"):
        export_onnx(tmp_path / "w.onnx", transform="wct")
    with pytest.raises(ExportError, match="sorts"):
        export_onnx(tmp_path / "e.onnx", transform="efdm")
    with pytest.raises(InputError, match=r"\.onnx"):
        export_onnx(tmp_path / "model.bin")
    assert list(tmp_path.iterdir()) == []


def _tiny_family() -> MultiLevelModel:
    pairs = {lvl: make_tiny_model(lvl, seed=i) for i, lvl in enumerate(("relu2_1", "relu1_1"))}
    return MultiLevelModel(pairs)


def test_multilevel_adain_is_one_graph(tmp_path: Path) -> None:
    family = _tiny_family()
    result = export_onnx(tmp_path / "ml.onnx", family, levels=("relu2_1", "relu1_1"), runner=False)
    assert result.exporter == "torchscript" and result.files == (tmp_path / "ml.onnx",)
    import onnxruntime as ort

    content, style = torch.rand(2, 3, 37, 45), torch.rand(2, 3, 30, 26)
    got = ort.InferenceSession(str(result.path)).run(
        None, {"content": content.numpy(), "style": style.numpy(), "alpha": np.array(0.7, np.float32)}
    )[0]
    want = family.stylize(content, style[:1], 0.7, transform="adain", levels=("relu2_1", "relu1_1"))
    assert np.abs(got[:1] - want[:1].numpy()).max() < 1e-4


def test_split_export_runs_wct_in_numpy(tmp_path: Path) -> None:
    family = _tiny_family()
    result = export_onnx(tmp_path / "wct", family, "wct", ("relu2_1", "relu1_1"), split=True)
    spec = json.loads((result.path / "model.json").read_text())
    assert spec["transform"] == "wct" and [lvl["level"] for lvl in spec["levels"]] == ["relu2_1", "relu1_1"]
    runner = load_runner(result.path / RUNNER_NAME)
    content, style = torch.rand(1, 3, 33, 41), torch.rand(1, 3, 29, 35)
    got = runner.load(result.path).stylize(content.numpy(), style.numpy(), 0.9)
    want = family.stylize(content, style, 0.9, transform="wct", levels=("relu2_1", "relu1_1"))
    assert np.abs(got - want.numpy()).max() < 1e-4


def test_cli_export_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    family = tmp_path / "pair"
    make_tiny_model().save_pretrained(family)
    out = tmp_path / "cli.onnx"
    assert main(["export-onnx", str(out), "--model", str(family), "--exporter", "torchscript", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["levels"] == ["relu4_1"] and summary["dtype"] == "float32" and out.is_file()
    assert main(["export-onnx", str(tmp_path / "w.onnx"), "--model", str(family), "--transform", "wct"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--split" in err and len(err.strip().splitlines()) == 1

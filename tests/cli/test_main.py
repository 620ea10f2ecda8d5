"""The ``adain-nst`` root: exit statuses, one-line errors, --version, --threads, --device and --dtype checks."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adain_nst
from adain_nst import AdaINModel, DeviceError, InputError
from adain_nst.cli import build_parser, main
from adain_nst.engine import runtime

COMMANDS = ("stylize", "gatys", "train", "models", "download", "bench")
# The module, not the function of the same name that adain_nst.cli exports.
main_module = importlib.import_module("adain_nst.cli.app")


@pytest.fixture()
def pair(tmp_path: Path, tiny_model: Callable[..., AdaINModel]) -> list[str]:
    """``stylize`` arguments for one small pair and a tiny model folder (no output yet)."""
    tiny_model().save_pretrained(tmp_path / "model")
    rng = np.random.default_rng(0)
    for name in ("c.png", "s.png"):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    return ["stylize", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "--model", str(tmp_path / "model")]


@pytest.fixture()
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: the checks under test must come first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr("adain_nst.cli._options.get_model", refuse)
    monkeypatch.setattr("adain_nst.cli._options.model_from_files", refuse)


def test_every_command_is_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(COMMANDS) <= set(sub.choices)
    for name in COMMANDS:
        assert any("--threads" in a.option_strings for a in sub.choices[name]._actions), name


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"adain-nst {adain_nst.__version__}"
    with pytest.raises(SystemExit) as info:
        main([])  # no command
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["stylize", "c.png", "s.png", "-o", "o.png", "--dtype", "float64"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "adain_nst", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"adain-nst {adain_nst.__version__}"


def _models_runs(monkeypatch: pytest.MonkeyPatch, run: Callable[[argparse.Namespace], int]) -> None:
    """Make ``adain-nst models`` call ``run``."""
    command = main_module.COMMANDS["models"]
    monkeypatch.setitem(main_module.COMMANDS, "models", command._replace(run=run))


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (InputError("bad thing\nsecond line of the message"), "error: bad thing second line of the message"),
        (DeviceError("device 'cuda' requested but CUDA is not available"), "error: device 'cuda' requested"),
        (FileNotFoundError("no such file: x.png"), "error: no such file: x.png"),
        (ValueError("bad value"), "error: bad value"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception, line: str
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise exc

    _models_runs(monkeypatch, fail)
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and len(err.splitlines()) == 1 and "Traceback" not in err


def test_other_errors_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(args: argparse.Namespace) -> int:
        raise TypeError("a bug in the library")

    _models_runs(monkeypatch, bug)
    with pytest.raises(TypeError, match="a bug"):
        main(["models"])


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    _models_runs(monkeypatch, interrupted)
    assert main(["models"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_threads_on_the_root_or_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    assert main(["--threads", "3", "models", "--json"]) == 0
    assert main(["models", "--threads", "2"]) == 0
    assert main(["--threads", "3", "models", "--threads", "1"]) == 0  # the command's wins
    assert main(["models"]) == 0  # none given: torch's choice is left alone
    assert calls == [3, 2, 1]
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["models", "--threads", "0"])
    assert info.value.code == 2 and "integer >= 1" in capsys.readouterr().err


def test_bench_keeps_its_threads_option_and_sees_the_roots() -> None:
    args = build_parser().parse_args(["--threads", "2", "bench", "--quick"])
    assert args.threads is None and args.root_threads == 2  # main() copies the root's value over
    assert build_parser().parse_args(["bench", "--threads", "4"]).threads == 4


@pytest.mark.parametrize(
    ("device", "message"),
    [("tpu:0", "device"), ("not-a-device", "unknown device"), ("cuda:99", "cuda")],
)
def test_bad_device_is_refused_before_the_model_loads(
    pair: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_load: None, device: str, message: str
) -> None:
    if device.startswith("cuda") and torch.cuda.device_count() > 99:
        pytest.skip("this machine has that many GPUs")
    out = tmp_path / "o.png"
    assert main([*pair, "-o", str(out), "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err.lower() and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_why(
    pair: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_load: None
) -> None:
    assert main([*pair, "-o", str(tmp_path / "o.png"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_float16_on_cpu_is_refused_before_the_model_loads(
    pair: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_load: None
) -> None:
    assert main([*pair, "-o", str(tmp_path / "o.png"), "--dtype", "float16"]) == 2
    assert "float16" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:this CPU has no native bfloat16:RuntimeWarning")  # bf16 forced on an AVX2 CPU
@pytest.mark.parametrize(
    ("dtype", "native_bf16", "ran"),
    [
        (None, True, "float32"),  # the default is float32 on every CPU
        ("float32", True, "float32"),
        ("auto", False, "float32"),  # AVX2-only CPU: bf16 would be emulated
        ("auto", True, "bfloat16"),
        ("bfloat16", True, "bfloat16"),
    ],
)
def test_json_says_which_precision_ran(
    pair: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dtype: str | None,
    native_bf16: bool,
    ran: str,
) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native_bf16)
    out = tmp_path / "o.png"
    extra = ["--dtype", dtype] if dtype else []
    assert main([*pair, "-o", str(out), "--json", *extra]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dtype"] == ran and summary["count"] == 1
    assert Image.open(out).size == (32, 24)

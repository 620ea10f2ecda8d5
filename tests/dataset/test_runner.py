"""Dataset jobs end to end: outputs and manifest, errors, resume after a crash or SIGKILL, workers, torchrun, Ray."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_nst import InputError, stylize_dataset
from adain_nst.dataset import runner

OPTIONS = dict(styles_per_image=2, seed=1, content_size=48, style_size=48, batch_size=3, fmt="png", progress=False)
CLI_OPTIONS = ["--styles-per-image", "2", "--seed", "1", "--content-size", "48", "--style-size", "48",
               "--batch-size", "3", "--format", "png"]  # fmt: skip


def _picture(path: Path, seed: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(base).resize(size, Image.BICUBIC).save(path)


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    """SRC with 7 good pictures in nested folders (two sizes, JPEG and PNG) and 2 bad files; 3 styles."""
    src = tmp_path / "src"
    for i in range(7):
        _picture(src / f"part{i % 2}" / ("deep" if i > 4 else "") / f"img{i}.{'jpg' if i % 3 else 'png'}", i,
                 (64, 48) if i % 2 else (48, 60))  # fmt: skip
    (src / "notes.png").write_text("not an image")
    good = src / "part0" / "img0.png"
    (src / "part1" / "cut.jpg").write_bytes(Path(good).read_bytes()[:80])  # truncated
    styles = tmp_path / "styles"
    for j in range(3):
        _picture(styles / f"style{j}.jpg", 100 + j, (56, 56))
    return {"src": src, "styles": styles, "root": tmp_path}


def _files(dst: Path) -> dict[str, bytes]:
    """Every file of a job's output, the journals folder excepted."""
    return {
        p.relative_to(dst).as_posix(): p.read_bytes()
        for p in sorted(dst.rglob("*"))
        if p.is_file() and runner.journal.JOB_DIR not in p.parts
    }


def _reference(tree: dict[str, Path]) -> dict[str, bytes]:
    dst = tree["root"] / "reference"
    stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS)
    return _files(dst)


def test_every_output_manifest_and_error_log(tree: dict[str, Path]) -> None:
    dst = tree["root"] / "out"
    result = stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS)
    assert result.outputs == result.computed == 14 and result.skipped == 0
    rows = [json.loads(line) for line in (dst / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 14 and [r["output"] for r in rows] == sorted(r["output"] for r in rows)
    for r in rows:
        assert {"content", "output", "style", "alpha", "transform", "model", "seed", "sha256"} <= set(r)
        image = Image.open(dst / r["output"])
        assert min(image.size) == 48 and image.format == "PNG"
        assert (tree["src"] / r["content"]).exists() and (tree["styles"] / r["style"]).exists()
    assert rows[0]["model"] == "cd16x" and rows[0]["transform"] == "adain" and rows[0]["seed"] == 1
    per_content: dict[str, set[str]] = {}
    for r in rows:
        per_content.setdefault(r["content"], set()).add(r["style"])
    assert all(len(s) == 2 for s in per_content.values())  # two distinct styles per image
    errors = {e["content"]: e["error"] for e in map(json.loads, (dst / "errors.jsonl").read_text().splitlines())}
    assert set(errors) == {"notes.png", "part1/cut.jpg"} and all(errors.values())
    assert {f["content"] for f in result.failed} == set(errors)
    assert not [p for p in dst.rglob("*.tmp")]


@pytest.mark.parametrize("streams", [1, 2])
def test_resume_after_a_crash_gives_identical_files(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch, streams: int
) -> None:
    want = _reference(tree)
    dst = tree["root"] / "crashed"
    options = {**OPTIONS, "streams": streams}
    real_run, calls = runner.BatchWorker.run, []

    def crash_on_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(runner.BatchWorker, "run", crash_on_third)
    with pytest.raises(RuntimeError, match="simulated crash"):
        stylize_dataset(tree["src"], dst, tree["styles"], **options)
    assert not (dst / "manifest.jsonl").exists()
    monkeypatch.setattr(runner.BatchWorker, "run", real_run)
    result = stylize_dataset(tree["src"], dst, tree["styles"], **options)
    assert result.outputs == 14 and 0 < result.skipped < 16 and result.computed < 14
    assert _files(dst) == want
    again = stylize_dataset(tree["src"], dst, tree["styles"], **options)
    assert again.computed == 0 and again.skipped == 16 and _files(dst) == want  # 14 outputs + 2 failed inputs


def test_a_damaged_output_is_redone(tree: dict[str, Path]) -> None:
    dst = tree["root"] / "damaged"
    stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS)
    want = _files(dst)
    victim = dst / json.loads((dst / "manifest.jsonl").read_text().splitlines()[3])["output"]
    victim.write_bytes(victim.read_bytes()[:50])
    result = stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS)
    assert 1 <= result.computed <= 3  # its batch, recomputed whole
    assert _files(dst) == want


def test_other_options_on_a_job_folder_are_refused(tree: dict[str, Path]) -> None:
    dst = tree["root"] / "job"
    stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS)
    with pytest.raises(InputError, match="other options \\(alpha\\)"):
        stylize_dataset(tree["src"], dst, tree["styles"], **{**OPTIONS, "alpha": 0.5})
    with pytest.raises(InputError, match="inside SRC"):
        stylize_dataset(tree["src"], tree["src"] / "out", tree["styles"], **OPTIONS)
    with pytest.raises(InputError, match="styles_per_image"):
        stylize_dataset(tree["src"], dst, tree["styles"], **{**OPTIONS, "styles_per_image": 0})


def test_workers_give_the_same_files(tree: dict[str, Path]) -> None:
    dst = tree["root"] / "workers"
    stylize_dataset(tree["src"], dst, tree["styles"], **{**OPTIONS, "workers": 2})
    assert _files(dst) == _reference(tree)


@pytest.mark.parametrize("streams", [1, 3])
def test_streams_give_the_same_files(tree: dict[str, Path], streams: int) -> None:
    dst = tree["root"] / f"streams{streams}"
    threads = torch.get_num_threads()
    stylize_dataset(tree["src"], dst, tree["styles"], **{**OPTIONS, "streams": streams})
    assert _files(dst) == _reference(tree)
    assert torch.get_num_threads() == threads  # the split is undone
    with pytest.raises(InputError, match="streams"):
        stylize_dataset(tree["src"], dst, tree["styles"], **{**OPTIONS, "streams": 0})


def test_style_cache_encodes_a_style_once_across_threads(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = runner.plan_job(tree["src"], tree["root"] / "unused", tree["styles"], content_size=48, style_size=48)
    cache = runner.BatchWorker(job, device="cpu", dtype=None).styles
    encoded: list[str] = []
    real = runner.StyleCache._encode

    def slow_encode(self: runner.StyleCache, rel: str):
        encoded.append(rel)
        time.sleep(0.05)  # both threads ask while the first is still encoding
        if rel == "style2.jpg" and encoded.count(rel) == 1:
            raise OSError("disk hiccup")
        return real(self, rel)

    monkeypatch.setattr(runner.StyleCache, "_encode", slow_encode)
    with ThreadPoolExecutor(4) as pool:
        feats = list(pool.map(cache.get, ["style0.jpg"] * 4))
    assert encoded == ["style0.jpg"] and all(f is feats[0] for f in feats)
    with pytest.raises(OSError, match="hiccup"):
        cache.get("style2.jpg")
    assert cache.get("style2.jpg") is cache.get("style2.jpg")  # a failure is not cached
    assert encoded == ["style0.jpg", "style2.jpg", "style2.jpg"] and len(cache) == 2


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "adain_nst", "stylize-dataset", *args]


def test_sigkill_halfway_then_rerun_gives_identical_files(tree: dict[str, Path]) -> None:
    want = _reference(tree)
    dst = tree["root"] / "killed"
    cmd = _cli(str(tree["src"]), str(dst), "--styles", str(tree["styles"]), *CLI_OPTIONS)
    cmd[cmd.index("--batch-size") + 1] = "3"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = dst / runner.journal.JOB_DIR / "journal-rank0.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    # what kill -9 can leave: a temporary file of an interrupted write (the rerun removes it)
    (dst / "part0").mkdir(parents=True, exist_ok=True)
    (dst / "part0" / ".img0_s0.png.99999.0123abcd.tmp").write_bytes(b"partial")
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr  # the two bad inputs
    assert "notes.png" in done.stderr and "part1/cut.jpg" in done.stderr
    assert _files(dst) == want


def test_cli_bad_option_is_exit_2(tree: dict[str, Path]) -> None:
    r = subprocess.run(_cli(str(tree["src"]), str(tree["root"] / "o"), "--styles", str(tree["styles"]),
                            "--styles-per-image", "9"), capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: --styles-per-image 9 exceeds the 3 style image(s) available"]
    assert not (tree["root"] / "o").exists()


def test_two_torchrun_processes_give_the_same_files(tree: dict[str, Path]) -> None:
    want = _reference(tree)
    dst = tree["root"] / "ranks"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "adain_nst", "stylize-dataset", str(tree["src"]), str(dst), "--styles", str(tree["styles"]),
           *CLI_OPTIONS]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    # rank 0 exits 3 for the two bad inputs; torchrun reports a failed child as its own exit 1
    assert r.returncode == 1 and "exitcode: 3" in r.stderr, r.stderr[-2000:]
    journals = sorted(p.name for p in (dst / runner.journal.JOB_DIR).glob("journal-*.jsonl"))
    assert journals == ["journal-rank0.jsonl", "journal-rank1.jsonl"]  # both ranks worked
    assert _files(dst) == want


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install adain-nst[ray])")
def test_ray_backend_gives_the_same_files(tree: dict[str, Path]) -> None:
    want = _reference(tree)
    dst = tree["root"] / "ray"
    result = stylize_dataset(tree["src"], dst, tree["styles"], **OPTIONS, backend="ray")
    assert result.outputs == 14
    assert _files(dst) == want


def test_each_torchrun_rank_gets_its_own_gpu() -> None:
    ranks = {"WORLD_SIZE": "4", "LOCAL_RANK": "2"}
    assert runner.rank_device(torch.device("cuda"), ranks) == torch.device("cuda", 2)
    assert runner.rank_device(torch.device("cuda", 0), ranks) == torch.device("cuda", 0)  # asked for: kept
    assert runner.rank_device(torch.device("cpu"), ranks) == torch.device("cpu")
    assert runner.rank_device(torch.device("cuda"), {"WORLD_SIZE": "1"}) == torch.device("cuda")


def test_two_streams_by_default_only_for_small_images_on_a_cpu_with_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    cpu = torch.device("cpu")
    assert runner.default_streams(cpu, 256 * 384) == 2
    assert runner.default_streams(cpu, runner.TWO_STREAMS_MAX_PIXELS + 1) == 1  # memory: one at a time
    assert runner.default_streams(torch.device("cuda"), 256 * 384) == 1
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)  # a torchrun rank
    assert runner.default_streams(cpu, 256 * 384) == 1

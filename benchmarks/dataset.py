"""Dataset stylisation: throughput against a one-image-at-a-time loop, and the issue's identity checks.

    ADAIN_NST_TEST_DATA=../shared python benchmarks/dataset.py [--contents 200] [--styles 40] [--sizes 256 512]

On a tree of ``--contents`` photos (from ``$ADAIN_NST_TEST_DATA/data/train/content``, copied into
two sub-folders of a temporary SRC) and ``--styles`` paintings (``data/train/style``), one style
per image, the default look, float32 (``--dtype auto``: bf16 where native, on both sides), PNG
outputs:

* **loop**: ``adain_nst.stylize(content, style, content_size=S, style_size=S)`` then
  ``save_image``, one image at a time, the style encoded every call (how bethgelab's
  stylize-datasets works, with our model);
* **ours, 1 process**: ``stylize_dataset`` (batches of ``--batch-size``, style features cached,
  ``--workers`` DataLoader workers, background writes);
* **ours, 2 processes**: the same under ``torchrun --nproc-per-node 2`` (gloo; each rank one
  thread, as torchrun sets ``OMP_NUM_THREADS=1``).

Images/s are outputs over the wall time of a fresh process, start-up and model loading included
(every input is read once beforehand, so all runs find the files in the page cache). 200 images
by default: a dataset job is long, and with 40 the few seconds of start-up were a third of a
run. At the first size it also checks the acceptance criteria on the issue's tree of
``--check-contents`` (40) photos x ``--styles`` paintings: a run killed with SIGKILL halfway and
rerun, the 2-process run and (if Ray is installed) the Ray backend give byte-identical outputs
and manifest to the uninterrupted 1-process run.
Writes ``dataset.json`` and ``dataset.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import adain_nst
from adain_nst.bench.measure import machine_info
from adain_nst.dataset.journal import JOB_DIR


def _tree(root: Path, shared: Path, n_contents: int, n_styles: int) -> tuple[Path, Path]:
    src, styles = root / "src", root / "styles"
    contents = sorted((shared / "data/train/content").iterdir())[:n_contents]
    for i, p in enumerate(contents):
        (src / f"part{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(p, src / f"part{i % 2}" / p.name)
    styles.mkdir()
    for p in sorted((shared / "data/train/style").iterdir())[:n_styles]:
        shutil.copy(p, styles / p.name)
    return src, styles


def _files(dst: Path) -> dict[str, bytes]:
    return {
        p.relative_to(dst).as_posix(): p.read_bytes()
        for p in sorted(dst.rglob("*"))
        if p.is_file() and JOB_DIR not in p.parts
    }


def _cli(
    src: Path, dst: Path, styles: Path, size: int, batch: int, workers: int, dtype: str | None = None,
    device: str = "cpu",
) -> list[str]:
    return ["-m", "adain_nst", "stylize-dataset", str(src), str(dst), "--styles", str(styles),
            "--content-size", str(size), "--style-size", str(size), "--batch-size", str(batch),
            "--workers", str(workers), "--format", "png", "--json", "--device", device,
            *(["--dtype", dtype] if dtype else [])]  # fmt: skip


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds of ``cmd``, and the CPU seconds (user + system) of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _loop(
    src: Path, styles: Path, dst: Path, size: int, dtype: str | None = None, device: str = "cpu"
) -> tuple[float, float]:
    """The one-at-a-time way, in a fresh process like the others (model loading included)."""
    code = f"""
import sys
from pathlib import Path
import adain_nst
from adain_nst.dataset.plan import assign_styles
src, styles, dst, size, dtype = Path({str(src)!r}), Path({str(styles)!r}), Path({str(dst)!r}), {size}, {dtype!r}
device = {device!r}
style_files = sorted(p for p in styles.rglob('*') if p.is_file())
for p in sorted(q for q in src.rglob('*') if q.is_file()):
    rel = p.relative_to(src).as_posix()
    style = style_files[assign_styles(0, rel, len(style_files), 1)[0]]
    out = adain_nst.stylize(str(p), str(style), content_size=size, style_size=size, dtype=dtype, device=device)
    adain_nst.save_image(out, (dst / rel).with_suffix('.png'))
"""
    return _timed([sys.executable, "-c", code])


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def _killed_then_resumed(cmd: list[str], dst: Path) -> None:
    proc = subprocess.Popen([sys.executable, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = dst / JOB_DIR / "journal-rank0.jsonl"
    while proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 12:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    subprocess.run([sys.executable, *cmd], check=False, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contents", type=int, default=200, help="content images of the throughput runs (default 200)")
    p.add_argument("--styles", type=int, default=40)
    p.add_argument("--check-contents", type=int, default=40, help="content images of the identity checks (default 40)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--dtype", choices=["float32", "auto"], default="float32",
                   help="precision of every run, the loop's included (auto: bf16 on a CPU with native bf16)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (every run; torchrun: one process per GPU)")
    p.add_argument("--skip-checks", action="store_true", help="throughput only (no identity checks)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/dataset"))
    args = p.parse_args(argv)
    if args.device != "cpu" and not args.skip_checks:
        p.error("the identity checks run on the CPU; pass --skip-checks with --device")
    shared = Path(os.environ.get("ADAIN_NST_TEST_DATA", "../shared"))
    rows: list[dict[str, object]] = []
    checks: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src, styles = _tree(root / "big", shared, args.contents, args.styles)
        check_src, _ = _tree(root / "small", shared, args.check_contents, 0)
        n = sum(1 for q in src.rglob("*") if q.is_file())
        n_check = sum(1 for q in check_src.rglob("*") if q.is_file())
        for q in [*src.rglob("*"), *styles.rglob("*")]:  # into the page cache before any timed run
            if q.is_file():
                q.read_bytes()
        # On CPU two processes share the cores; on CUDA each process needs a GPU of its own.
        procs = 2 if args.device == "cpu" else _gpu_count()
        for k, size in enumerate(args.sizes):
            runs = {
                "loop (stylize one image at a time)": lambda d, s=size: _loop(
                    src, styles, d, s, args.dtype, args.device
                ),
                "ours, 1 process": lambda d, s=size: _timed(
                    [sys.executable, *_cli(src, d, styles, s, args.batch_size, args.workers, args.dtype, args.device)]
                ),
            }
            if procs >= 2:
                runs[f"ours, {procs} processes (torchrun)"] = lambda d, s=size: _timed(
                    [
                        sys.executable,
                        "-m",
                        "torch.distributed.run",
                        "--standalone",
                        "--nproc-per-node",
                        str(procs),
                        *_cli(src, d, styles, s, args.batch_size, 0, args.dtype, args.device),
                    ]
                )
            seconds: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for name, run in runs.items():
                seconds[name], cpu[name] = run(root / f"run-{size}-{len(seconds)}")
                print(f"{size} px  {name}: {n / seconds[name]:.2f} images/s", flush=True)
            base = seconds["loop (stylize one image at a time)"]
            cores = os.cpu_count() or 1
            for name, s in seconds.items():
                rows.append({"size": size, "method": name, "seconds": round(s, 2), "images_per_s": round(n / s, 3),
                             "x_loop": round(base / s, 2), "cpu_s": round(cpu[name], 1),
                             "cpu_use": round(cpu[name] / (s * cores), 2)})  # fmt: skip
            if k == 0 and not args.skip_checks:
                checks["2 processes == 1 process (throughput tree)"] = _files(root / f"run-{size}-2") == _files(
                    root / f"run-{size}-1"
                )
                # The identity checks, on its tree of --check-contents images x --styles styles.
                one, two, killed = root / "check-1", root / "check-2", root / "killed"
                subprocess.run([sys.executable, *_cli(check_src, one, styles, size, args.batch_size, args.workers)],
                               check=False, capture_output=True)  # fmt: skip
                reference = _files(one)
                torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
                subprocess.run([*torchrun, *_cli(check_src, two, styles, size, args.batch_size, 0)],
                               check=False, capture_output=True)  # fmt: skip
                checks["2 processes == 1 process"] = _files(two) == reference
                _killed_then_resumed(_cli(check_src, killed, styles, size, args.batch_size, args.workers), killed)
                checks["SIGKILL halfway + rerun == uninterrupted"] = _files(killed) == reference
                if importlib.util.find_spec("ray") is not None:
                    options = {"content_size": size, "style_size": size, "batch_size": args.batch_size, "fmt": "png"}
                    adain_nst.stylize_dataset(check_src, root / "ray", styles, **options, backend="ray", progress=False)
                    checks["Ray backend == 1 process"] = _files(root / "ray") == reference
                checks["every output and manifest line exists"] = (
                    len([f for f in reference if f.endswith(".png")]) == n_check
                    and len(reference["manifest.jsonl"].splitlines()) == n_check
                )
    result = {"machine": machine_info(), "device": args.device, "dtype": args.dtype, "images": n,
              "check_images": n_check, "styles": args.styles, "batch_size": args.batch_size,
              "workers": args.workers, "rows": rows, "checks": checks}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dataset.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    precision = "float32" if args.dtype == "float32" else "dtype='auto' on every side (the loop's stylize too)"
    lines = [
        f"Throughput: {n} contents x 1 style each ({args.styles} styles), default look, {precision}, PNG out; batch "
        f"{args.batch_size}, {args.workers} worker(s); wall time of a fresh process (start-up and model loading "
        f"included). Machine: {m.get('cpu', '?')}, {m.get('gpu') or 'no GPU'}, device {args.device}, torch "
        f"{m.get('torch', '?')}. Identity checks: "
        + ("not run (`--skip-checks`)." if args.skip_checks else f"{n_check} contents x {args.styles} styles.")
        + f" CPU s: user + system time of the run's processes; CPU use: of the {os.cpu_count()} logical CPUs"
        " over the wall time.",
        "",
        "| size | method | s | images/s | x loop | CPU s | CPU use |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['size']} | {r['method']} | {r['seconds']} | {r['images_per_s']} | {r['x_loop']} | {r['cpu_s']} "
            f"| {r['cpu_use']:.0%} |"
            for r in rows
        ),
        "",
        *(f"- {name}: {'yes' if ok else '**no**'}" for name, ok in checks.items()),
    ]
    (args.out / "dataset.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

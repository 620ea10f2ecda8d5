"""What a dataset job has done, on disk: the job record, per-writer journals and the final manifest.

Layout under DST:

* ``.adain-nst-job/job.json``: the job's options; a rerun with other options is refused;
* ``.adain-nst-job/journal-<writer>.jsonl``: one line per output written (after its atomic
  rename, with the file's sha256) or per input that failed; append-only, one file per writer
  (rank or actor), so concurrent writers never share a file. A line cut by a crash is ignored;
* ``manifest.jsonl`` and ``errors.jsonl``: written once the job is complete, sorted by output
  (errors by content), with no timings, so they are byte-identical whatever the process count,
  backend or resume history.

An output counts as done when a journal line names it and the file on disk has that sha256
(:func:`verified_records`); anything else is redone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, sha256_file
from ..errors import InputError

JOB_DIR = ".adain-nst-job"
MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"


def job_dir(dst: Path) -> Path:
    return dst / JOB_DIR


# adain_nst._io.atomic_write's temporary names: ".<name>.<pid>.<8 hex>.tmp".
_TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")


def sweep_temporaries(dst: Path) -> int:
    """Remove temporary files a killed run left in DST (``kill -9`` skips their clean-up); returns how many."""
    n = 0
    for p in dst.rglob(".*.tmp"):
        if p.is_file() and _TEMP.match(p.name):
            p.unlink(missing_ok=True)
            n += 1
    return n


def open_job(dst: Path, options: Mapping[str, Any]) -> None:
    """Make DST, record or check the job's options, and remove a killed run's temporary files.

    Call it once per job, before any writer starts (rank 0, or the Ray driver).
    """
    dst.mkdir(parents=True, exist_ok=True)
    check_job(dst, options)
    sweep_temporaries(dst)


def check_job(dst: Path, options: Mapping[str, Any]) -> None:
    """Record ``options`` in DST, or refuse them if DST holds a job with other options."""
    path = job_dir(dst) / "job.json"
    text = json.dumps(dict(options), indent=2, sort_keys=True) + "\n"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
        if old != json.loads(text):
            changed = sorted(k for k in {**(old or {}), **options} if (old or {}).get(k) != options.get(k))
            raise InputError(
                f"{dst} holds a dataset job with other options ({', '.join(changed) or 'unreadable job.json'}): "
                "rerun with the same options to resume it, or write to another DST"
            )
        return
    atomic_write_bytes(path, text.encode("utf-8"))


class Journal:
    """Append-only JSON lines of one writer; each line is flushed and fsynced before the next output."""

    def __init__(self, dst: Path, writer: str) -> None:
        folder = job_dir(dst)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"journal-{writer}.jsonl"
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(dict(record), sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journals(dst: Path) -> list[dict[str, Any]]:
    """Every complete line of every journal in DST (lines cut by a crash are skipped)."""
    records: list[dict[str, Any]] = []
    for path in sorted(job_dir(dst).glob("journal-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def verified_records(dst: Path, records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The output records whose file exists with the recorded sha256, by output path (the last one wins)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        if "output" in rec and "sha256" in rec:
            latest[rec["output"]] = dict(rec)
    done: dict[str, dict[str, Any]] = {}
    for out, rec in latest.items():
        path = dst / out
        if path.is_file() and sha256_file(path) == rec["sha256"]:
            done[out] = rec
    return done


def error_records(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The failed inputs by content path (the last record wins)."""
    return {rec["content"]: dict(rec) for rec in records if "error" in rec}


def write_lines(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    text = "".join(json.dumps(dict(r), sort_keys=True) + "\n" for r in rows)
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_manifest(dst: Path, done: Mapping[str, Mapping[str, Any]], errors: Mapping[str, Mapping[str, Any]]) -> None:
    """``manifest.jsonl`` (one line per output, sorted) and ``errors.jsonl`` (one per failed input, sorted)."""
    write_lines(dst / MANIFEST, (done[k] for k in sorted(done)))
    write_lines(dst / ERRORS, (errors[k] for k in sorted(errors)))


__all__ = [
    "ERRORS",
    "JOB_DIR",
    "MANIFEST",
    "Journal",
    "check_job",
    "error_records",
    "job_dir",
    "open_job",
    "read_journals",
    "sweep_temporaries",
    "verified_records",
    "write_lines",
    "write_manifest",
]

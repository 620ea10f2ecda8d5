"""Helpers shared by the scripts in weights/ (not part of the installed package)."""

from __future__ import annotations

import sys
from pathlib import Path

from adain_nst._io import sha256_file
from adain_nst.pretrained.folder import MODEL_FILES
from adain_nst.pretrained.registry import ModelSpec, get_spec


def file_records(folder: Path) -> list[tuple[str, str, int]]:
    """(name, sha256, size in bytes) of each model file in ``folder``."""
    return [(name, sha256_file(folder / name), (folder / name).stat().st_size) for name in MODEL_FILES]


def print_records(folder: Path) -> None:
    """Print the FileRecord lines to paste into adain_nst/pretrained/registry.py."""
    print(f"converted into {folder}; registry records:")
    for name, digest, size in file_records(folder):
        print(f'    FileRecord("{name}", "{digest}", {size:_}),')


def compare_with_registry(folder: Path, spec: ModelSpec) -> list[str]:
    """Files of ``folder`` whose digest or size differs from ``spec``'s (unrecorded values are skipped)."""
    bad = []
    for name, digest, size in file_records(folder):
        record = spec.file(name)
        if record.sha256 is not None and record.sha256 != digest:
            bad.append(f"{name}: sha256 {digest} != registered {record.sha256}")
        elif record.size is not None and record.size != size:
            bad.append(f"{name}: {size} bytes != registered {record.size}")
    return bad


def check_source(path: Path, spec_name: str | None, source_name: str) -> None:
    """Exit with a message when ``path`` is not the third-party file the registry records.

    Only checked where the registry knows the digest; unknown digests are printed so that
    they can be recorded.
    """
    if not path.is_file():
        sys.exit(f"{path}: no such file")
    digest = sha256_file(path)
    if spec_name is None:
        print(f"{path.name}: sha256 {digest}")
        return
    try:
        expected = get_spec(spec_name).source(source_name).sha256
    except KeyError:
        expected = None
    if expected is None:
        print(f"{path.name}: sha256 {digest} (not recorded in the registry for {spec_name})")
    elif digest == expected:
        print(f"{path.name}: sha256 matches the {source_name} recorded for {spec_name}")
    else:
        sys.exit(
            f"{path} has sha256 {digest}, not the {source_name} recorded for {spec_name} ({expected}); "
            "pass the right file, or --name none to convert it anyway (the result is then not that model)"
        )


def report(out: Path, spec: ModelSpec | None) -> int:
    """Print the records of ``out`` and compare them with ``spec``; exit status for main()."""
    print_records(out)
    if spec is None:
        return 0
    bad = compare_with_registry(out, spec)
    if bad:
        print(f"differs from the registry record of {spec.name}:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0

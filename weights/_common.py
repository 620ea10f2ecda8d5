"""Helpers shared by the scripts in weights/ (not part of the installed package)."""

from __future__ import annotations

import sys
from pathlib import Path

from adain_nst.hub import sha256_file
from adain_nst.registry import MODEL_FILES, ModelSpec, get_spec


def file_records(folder: Path) -> list[tuple[str, str, int]]:
    """(name, sha256, size) of each model file in ``folder``."""
    return [(name, sha256_file(folder / name), (folder / name).stat().st_size) for name in MODEL_FILES]


def print_records(folder: Path) -> None:
    """Print the FileRecord lines to paste into adain_nst/registry.py."""
    print(f"converted into {folder}; registry records:")
    for name, digest, size in file_records(folder):
        print(f'    FileRecord("{name}", "{digest}", {size}),')


def compare_with_registry(folder: Path, spec: ModelSpec) -> list[str]:
    """Files of ``folder`` whose digest differs from ``spec``'s (files without a recorded digest are skipped)."""
    bad = []
    for name, digest, _ in file_records(folder):
        expected = spec.file(name).sha256
        if expected is not None and expected != digest:
            bad.append(f"{name}: {digest} != registered {expected}")
    return bad


def check_source(path: Path, spec_name: str | None, source_name: str) -> None:
    """Exit with a message when ``path`` is not the third-party file the registry records.

    Only checked where the registry knows the digest; unknown digests are printed so that
    they can be recorded.
    """
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
    bad = compare_with_registry(out, spec) if spec is not None else []
    if bad:
        print(f"differs from the registry record of {spec.name}:\n  " + "\n  ".join(bad), file=sys.stderr)  # type: ignore[union-attr]
        return 1
    return 0

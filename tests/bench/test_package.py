"""The benchmark is an application layer: only the CLI imports it, and the library reads no test variable."""

from __future__ import annotations

import ast
from pathlib import Path

import adain_nst

PACKAGE = Path(adain_nst.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved; ``from m import x`` gives m.x too)."""
    package = ["adain_nst", *path.relative_to(PACKAGE).parent.parts]  # what "." means in this file
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names |= {f"{module}.{a.name}" for a in node.names}
    return names


def test_only_the_cli_imports_the_benchmark() -> None:
    users = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).parts[0] != "bench"
        and any(m == "adain_nst.bench" or m.startswith("adain_nst.bench.") for m in _imported_modules(p))
    }
    assert users <= {"cli/bench.py"}, users


def test_the_library_does_not_read_the_test_data_variable() -> None:
    readers = [
        p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if "ADAIN_NST_TEST_DATA" in p.read_text()
    ]
    assert readers == []

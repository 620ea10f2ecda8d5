"""The import graph of the adain_nst package, read from the source with ``ast`` (nothing is imported).

``python tools/import_graph.py`` prints the Mermaid diagram of ``docs/architecture.md``;
``--check`` exits 1 if the package has an import circle (between modules, or between
subpackages), a function-level import of the package outside the CLI's command modules, or a
module-level import of a top layer (:data:`TOP_LAYERS`: the web app) from outside it.
The tests call :func:`module_graph`, :func:`find_cycle`, :func:`function_level_imports` and
:func:`top_layer_imports`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "adain_nst"
# Command modules may import what only one command needs inside it: it keeps `adain-nst --help` fast.
LAZY_IMPORTS_ALLOWED = ("adain_nst.cli.",)
# Subpackages on top of everything (optional extras): nothing outside them imports them at module
# level; a command (`adain-nst serve`) imports one inside its run function only.
TOP_LAYERS = ("adain_nst.web",)


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> list[str]:
    """Package modules an import statement in ``module`` loads (the target, or its imported submodules)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE and a.name in known]
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base_parts = base_parts[: len(base_parts) - node.level + 1]
        base = ".".join([*base_parts, node.module] if node.module else base_parts)
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return []
    targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    return targets or ([base] if base in known else [])


def _parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def module_graph(root: Path = ROOT, *, include_parents: bool = True) -> dict[str, set[str]]:
    """Module -> package modules it imports at module level (``__init__`` of parents included)."""
    mods = _modules(root)
    known = set(mods)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(tree):
            for target in _resolve(name, is_package, node, known):
                deps = [*_parents(target), target] if include_parents else [target]
                graph[name].update(d for d in deps if d != name and not name.startswith(d + "."))
    return graph


def _top_level_imports(tree: ast.Module) -> Iterable[ast.Import | ast.ImportFrom]:
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif (isinstance(node, ast.If) and not _is_type_checking(node.test)) or isinstance(node, ast.Try):
            yield from (n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def function_level_imports(root: Path = ROOT) -> list[str]:
    """``module:line`` of every package import inside a function or class body (CLI commands excepted)."""
    mods = _modules(root)
    known = set(mods)
    found = []
    for name, path in mods.items():
        if name.startswith(LAZY_IMPORTS_ALLOWED):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for node in ast.walk(fn):
                    is_imp = isinstance(node, (ast.Import, ast.ImportFrom))
                    if is_imp and _resolve(name, path.name == "__init__.py", node, known):
                        found.append(f"{name}:{node.lineno}")
    return sorted(set(found))


def top_layer_imports(graph: dict[str, set[str]]) -> list[str]:
    """``importer -> imported`` for every module-level import of a :data:`TOP_LAYERS` module from outside it."""

    def inside(module: str, layer: str) -> bool:
        return module == layer or module.startswith(layer + ".")

    return sorted(
        f"{mod} -> {dep}"
        for mod, deps in graph.items()
        for dep in deps
        for layer in TOP_LAYERS
        if inside(dep, layer) and not inside(mod, layer)
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle ``[a, b, ..., a]`` if the graph has any, else ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def group_of(module: str) -> str:
    """The diagram's node for a module: its subpackage, or the module itself at the top level."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def group_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Subpackage-level graph; the package root (the public face) is left out."""
    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        g = group_of(mod)
        if g == "__init__":
            continue
        out.setdefault(g, set()).update(group_of(d) for d in deps if group_of(d) not in (g, "__init__"))
    return out


# Every module may use these; drawing their arrows would hide the structure.
FOUNDATIONS = {"errors", "_checks", "_io", "_version"}


def mermaid(root: Path = ROOT) -> str:
    """A Mermaid flowchart of the subpackage-level import graph, arrows from importer to imported.

    Arrows into the foundations (:data:`FOUNDATIONS`) are left out.
    """
    groups = group_graph(module_graph(root, include_parents=False))
    lines = ["```mermaid", "flowchart BT"]
    for g in sorted(groups):
        if g in FOUNDATIONS:
            continue
        for dep in sorted(groups[g] - FOUNDATIONS):
            lines.append(f"    {g.strip('_') or g} --> {dep.strip('_') or dep}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on import circles or function-level imports")
    args = parser.parse_args(argv)
    if not args.check:
        print(mermaid(), end="")
        return 0
    graph = module_graph()
    problems = []
    if cycle := find_cycle(graph):
        problems.append("module import circle: " + " -> ".join(cycle))
    if cycle := find_cycle(group_graph(graph)):
        problems.append("subpackage import circle: " + " -> ".join(cycle))
    problems += [f"function-level import of the package at {where}" for where in function_level_imports()]
    problems += [f"module-level import of a top layer: {edge}" for edge in top_layer_imports(graph)]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

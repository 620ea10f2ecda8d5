"""The docs stay true as the code changes: API reference and architecture diagram are regenerated and compared."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402  (tools/ is not a package)


def test_api_reference_is_up_to_date() -> None:
    render = runpy.run_path(str(DOCS / "gen_api.py"))["render"]
    assert (DOCS / "api.md").read_text() == render(), "docs/api.md is stale: run `python docs/gen_api.py`"


def test_readme_links_point_at_existing_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in (
        "quickstart",
        "concepts",
        "api",
        "architecture",
        "multilevel",
        "masks",
        "highres",
        "weights",
        "training",
        "gatys",
        "benchmarks",
        "web",
        "datasets",
        "video",
        "onnx",
    ):
        assert f"docs/{name}.md" in readme
        assert (DOCS / f"{name}.md").exists(), f"docs/{name}.md is missing"


def test_no_import_circle_and_no_function_level_imports() -> None:
    graph = import_graph.module_graph()
    assert import_graph.find_cycle(graph) is None, import_graph.find_cycle(graph)
    groups = import_graph.group_graph(graph)
    assert import_graph.find_cycle(groups) is None, import_graph.find_cycle(groups)
    assert import_graph.function_level_imports() == []
    assert import_graph.top_layer_imports(graph) == []


def test_the_web_app_is_a_top_layer_nothing_imports() -> None:
    planted = {"adain_nst.cli.serve": {"adain_nst.web.app"}, "adain_nst.web.app": {"adain_nst.web.handlers"}}
    assert import_graph.top_layer_imports(planted) == ["adain_nst.cli.serve -> adain_nst.web.app"]


def test_cycle_finder_finds_a_planted_circle() -> None:
    assert import_graph.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert import_graph.find_cycle({"a": {"b"}, "b": set()}) is None


def test_architecture_page_shows_the_current_import_graph() -> None:
    page = (DOCS / "architecture.md").read_text()
    assert import_graph.mermaid() in page, "docs/architecture.md is stale: paste `python tools/import_graph.py`"

"""The docs stay true as the code changes: the API reference is regenerated and compared."""

from __future__ import annotations

import runpy
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_api_reference_is_up_to_date() -> None:
    render = runpy.run_path(str(DOCS / "gen_api.py"))["render"]
    assert (DOCS / "api.md").read_text() == render(), "docs/api.md is stale: run `python docs/gen_api.py`"


def test_readme_links_point_at_existing_docs() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    for name in ("quickstart", "concepts", "api", "weights", "training", "gatys", "benchmarks"):
        assert f"docs/{name}.md" in readme
        assert (DOCS / f"{name}.md").exists(), f"docs/{name}.md is missing"

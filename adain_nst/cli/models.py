"""``adain-nst models``: the registered pretrained models, as a table, Markdown or JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..pretrained.registry import DEFAULT_MODEL, REGISTRY, ModelSpec, list_models, markdown_table, size_bytes, status
from ._options import EXIT_OK


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``models`` and its options on the subparsers ``sub``."""
    p = sub.add_parser("models", help="list the registered pretrained models")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="the Markdown table of docs/weights.md")
    fmt.add_argument("--json", action="store_true", help="one JSON object per model")
    return p


def spec_record(spec: ModelSpec) -> dict[str, Any]:
    """What ``models --json`` prints for one model."""
    return {
        "name": spec.name,
        "default": spec.name == DEFAULT_MODEL,
        "repo_id": spec.repo_id,
        "revision": spec.revision,
        "status": status(spec),
        "bundled": spec.is_bundled,
        "size_bytes": size_bytes(spec),
        "num_params": spec.num_params,
        "license": spec.license,
        "encoder": spec.encoder.to_dict(),
        "decoder": spec.decoder.to_dict(),
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in spec.files],
        "description": spec.description,
    }


def run(args: argparse.Namespace) -> int:
    """Print the registry in the chosen format; returns the exit status."""
    if args.markdown:
        print(markdown_table(), end="")
        return EXIT_OK
    specs = [REGISTRY[n] for n in list_models()]
    if args.json:
        print(json.dumps([spec_record(s) for s in specs], indent=2))
        return EXIT_OK
    width = max(len(s.name) for s in specs) + 2
    for s in specs:
        mark = "*" if s.name == DEFAULT_MODEL else " "
        size = size_bytes(s)
        mb = f"{size / 1e6:5.1f} MB" if size is not None else "   ? MB"
        where = "bundled, offline" if s.is_bundled else f"download ({status(s)})"
        print(f"{mark} {s.name:<{width}}{s.num_params:>12,} params  {mb}  {where:<42} {s.description}")
    print("(* default; bundled models ship in the package and never touch the network;")
    print(" details and licences: adain-nst models --markdown, docs/weights.md)")
    return EXIT_OK


__all__ = ["add_parser", "run", "spec_record"]

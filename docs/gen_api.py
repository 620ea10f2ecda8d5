"""Regenerate docs/api.md from the public API's signatures and docstrings.

python docs/gen_api.py          # rewrite docs/api.md
python docs/gen_api.py --check  # exit 1 if docs/api.md is out of date (the tests run this)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import adain_nst

OUT = Path(__file__).with_name("api.md")
MODULES = ["adain_nst.image", "adain_nst.losses", "adain_nst.train", "adain_nst.hub", "adain_nst.registry"]


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "(undocumented)")


def _signature(name: str, obj: object) -> str:
    try:
        return f"{name}{inspect.signature(obj)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name


def _entry(name: str, obj: object, level: str = "###") -> list[str]:
    kind = "class" if inspect.isclass(obj) else "def" if callable(obj) else ""
    lines = [f"{level} `{name}`", "", "```python", f"{kind} {_signature(name, obj)}".strip(), "```", "", _doc(obj), ""]
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr not in ("__init__",):
                continue
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if inspect.isfunction(func) and func.__doc__:
                lines += [f"#### `{name}.{attr}`", "", "```python", _signature(attr, func), "```", "", _doc(func), ""]
    return lines


def render() -> str:
    lines = ["# API reference", "", "Generated from the docstrings by `docs/gen_api.py`; do not edit by hand.", ""]
    lines += ["## `adain_nst`", ""]
    for name in sorted(adain_nst.__all__, key=str.lower):
        obj = getattr(adain_nst, name)
        if name.startswith("__") or inspect.ismodule(obj) or isinstance(obj, str):
            continue
        lines += _entry(name, obj)
    for module_name in MODULES:
        try:
            module = __import__(module_name, fromlist=["_"])
        except ImportError:
            continue
        lines += [f"## `{module_name}`", "", _doc(module), ""]
        public = getattr(module, "__all__", None) or [
            n
            for n, o in vars(module).items()
            if not n.startswith("_") and getattr(o, "__module__", None) == module_name
        ]
        for name in public:
            obj = getattr(module, name)
            if name in adain_nst.__all__ or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            lines += _entry(f"{module_name.split('.')[-1]}.{name}", obj)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")

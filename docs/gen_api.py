"""Regenerate docs/api.md from the public API: ``adain_nst.__all__`` and every public module's ``__all__``.

python docs/gen_api.py          # rewrite docs/api.md
python docs/gen_api.py --check  # exit 1 if docs/api.md is out of date (the tests run this)

Public modules are found by walking the package (names without a leading underscore, the
command-line, benchmark and web applications excepted); a module that fails to import is an error,
not a silent omission.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import adain_nst

OUT = Path(__file__).with_name("api.md")
APPLICATIONS = ("adain_nst.cli", "adain_nst.bench", "adain_nst.__main__", "adain_nst.web")  # web: an optional extra


def public_modules() -> list[ModuleType]:
    """Every public module of the package that declares ``__all__``, in name order."""
    found = []
    for info in pkgutil.walk_packages(adain_nst.__path__, "adain_nst."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")[1:]) or name.startswith(APPLICATIONS):
            continue
        module = importlib.import_module(name)  # an import error here fails the docs build, loudly
        if hasattr(module, "__all__"):
            found.append(module)
    return sorted(found, key=lambda m: m.__name__)


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "(undocumented)")


def _signature(name: str, obj: object) -> str:
    try:
        sig = inspect.signature(obj, eval_str=True)  # type: ignore[arg-type]
    except NameError:  # an annotation names a TYPE_CHECKING-only type: keep the strings
        sig = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name
    return f"{name}{sig}".replace("torch.nn.modules.module.", "")


def _entry(name: str, obj: object, level: str = "###") -> list[str]:
    kind = "class" if inspect.isclass(obj) else "def" if callable(obj) else ""
    lines = [f"{level} `{name}`", "", "```python", f"{kind} {_signature(name, obj)}".strip(), "```", "", _doc(obj), ""]
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if inspect.isfunction(func) and func.__doc__:
                lines += [f"#### `{name}.{attr}`", "", "```python", _signature(attr, func), "```", "", _doc(func), ""]
    return lines


def render() -> str:
    lines = ["# API reference", "", "Generated from the docstrings by `docs/gen_api.py`; do not edit by hand.", ""]
    lines += ["## `adain_nst`", "", _doc(adain_nst), ""]
    documented = set()
    for name in sorted(adain_nst.__all__, key=str.lower):
        obj = getattr(adain_nst, name)
        if name.startswith("__") or inspect.ismodule(obj) or isinstance(obj, str):
            continue
        documented.add(id(obj))
        lines += _entry(name, obj)
    for module in public_modules():
        entries: list[str] = []
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in documented or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            documented.add(id(obj))
            entries += _entry(f"{module.__name__.removeprefix('adain_nst.')}.{name}", obj)
        if entries:
            lines += [f"## `{module.__name__}`", "", _doc(module), "", *entries]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")

"""The ``adain-nst`` command line: one thin module per command over the library (see :mod:`.main`).

``adain-nst`` (console script ``adain_nst.cli:main``) and ``python -m adain_nst`` both run :func:`main`.
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]

"""``python -m adain_nst.bench``: the speed benchmark (same options as ``benchmarks/speed.py``)."""

from .command import main

raise SystemExit(main())

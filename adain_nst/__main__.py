"""``python -m adain_nst``: same as the ``adain-nst`` command."""

import sys

from .cli import main

sys.exit(main())

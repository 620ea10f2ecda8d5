"""The web app (``adain-nst serve``): a Gradio page over the public API, on top of the package.

:mod:`.handlers` holds what the page does as plain functions (no Gradio); :mod:`.app` lays
them out with Gradio (the ``web`` extra) and serves them. Nothing in the core imports this
subpackage; ``adain-nst serve`` imports it only when it runs. ``docs/web.md`` tells how to run
and host it.
"""

from .handlers import MAX_UPLOAD_MB, PREVIEW_SIZE

__all__ = ["MAX_UPLOAD_MB", "PREVIEW_SIZE"]

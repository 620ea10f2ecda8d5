"""Hugging Face Space entry point for the adain-nst web app (Gradio SDK).

A Space runs ``python app.py``; it sets ``GRADIO_SERVER_NAME=0.0.0.0`` itself, so the host is
left to Gradio here (127.0.0.1 when run on a machine of your own). ``docs/web.md`` tells how to
publish this folder as a Space.
"""

from __future__ import annotations

from adain_nst.web.app import create_app, launch_app, warm_up

demo = create_app()

if __name__ == "__main__":
    warm_up()
    launch_app(demo, host=None, port=None)

"""The Gradio page: lays out :mod:`.handlers` and serves it (``adain-nst serve``, ``app/app.py``).

Only this module imports Gradio (the ``web`` extra: ``pip install "adain-nst[web]"``).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .. import get_model, image, samples, stylize
from . import handlers as h

#: Images declaring more pixels than this are refused by the served app (the library's own limit is 200 MP).
MAX_PIXELS = 50_000_000
TITLE = "adain-nst: style transfer"
INTRO = (
    "# adain-nst: arbitrary style transfer\n"
    "Pick a photo and one or more paintings, press **Preview** for a quick look at "
    f"{h.PREVIEW_SIZE} px, then **Full size**. Everything runs on this server with the bundled "
    "models (no network). Uploads: at most {mb:g} MB each."
)


def create_app(*, device: str | None = None, max_upload_mb: float = h.MAX_UPLOAD_MB) -> gr.Blocks:
    """The page, not yet serving (see :func:`launch_app`).

    Args:
        device: where to stylise (``None``: CPU; ``"cuda"``, ``"auto"``, ...: as :func:`adain_nst.stylize`).
        max_upload_mb: the largest upload accepted, in MB (MiB); the server refuses larger ones too.
    """
    style_names = samples.names("style")
    content_names = samples.names("content")
    first_content = "chelsea" if "chelsea" in content_names else content_names[0]

    def show_content(upload: str | None, sample: str | None) -> tuple[Any, str]:
        return h.content_preview(upload, sample, max_upload_mb)

    def pick_from_gallery(selected: list[str] | None, evt: gr.SelectData) -> list[str]:
        return h.toggle_style(selected, int(evt.index))

    def run(preview: bool) -> Any:
        def fn(*values: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:  # noqa: B008 (Gradio's idiom)
            return h.stylize_page(*values, preview=preview, device=device, max_mb=max_upload_mb, progress=progress)

        return fn

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO.format(mb=max_upload_mb))
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                gr.Markdown("### 1. Photo")
                content_file = gr.File(
                    label=f"Upload a photo (JPEG, PNG, WebP..., at most {max_upload_mb:g} MB)",
                    type="filepath",
                    height=120,
                    elem_id="content-upload",
                )
                content_sample = gr.Radio(
                    content_names,
                    value=first_content,
                    label="...or a sample photo (an upload wins)",
                    elem_id="content-sample",
                )
                content_view = gr.Image(
                    value=str(samples.path(first_content)),
                    label="Photo",
                    type="pil",
                    interactive=False,
                    height=220,
                    buttons=[],
                    elem_id="content-view",
                )
                content_status = gr.Markdown(f"Content: **{first_content}.jpg**.", elem_id="content-status")
                gr.Markdown("### 2. Style")
                gallery = gr.Gallery(
                    value=[(str(samples.path(n)), n.replace("_", " ")) for n in style_names],
                    label="Bundled paintings: click to pick, click again to drop",
                    columns=4,
                    height=190,
                    allow_preview=False,
                    interactive=False,
                    buttons=[],
                    elem_id="style-gallery",
                )
                picked = gr.CheckboxGroup(style_names, label="Picked paintings", elem_id="style-names")
                style_files = gr.File(
                    label="...and/or upload paintings",
                    file_count="multiple",
                    type="filepath",
                    height=120,
                    elem_id="style-upload",
                )
                summary = gr.Markdown(h.styles_summary([], []), elem_id="style-summary")
                weights = gr.Textbox(
                    label="Style weights, one per style in the order above (e.g. 0.7, 0.3); empty: equal",
                    elem_id="style-weights",
                )
                # Optional: two styles by region, shown where adain_nst.stylize takes masks= (handlers.HAS_MASKS).
                mask_file = gr.File(
                    label="Mask (white: the first style; black: the second, or the photo with one style)",
                    type="filepath",
                    height=120,
                    elem_id="mask-upload",
                    render=False,
                )
                if h.HAS_MASKS:
                    with gr.Accordion("Optional: two styles by region (a mask)", open=False, elem_id="mask"):
                        gr.Markdown(
                            "Upload a black-and-white image with the photo's shape: the first style "
                            "paints the white part, the second the black part (grey blends). With one "
                            "style the black part keeps the photo. Weights do not apply."
                        )
                        mask_file.render()
            with gr.Column(scale=1):
                gr.Markdown("### 3. Options")
                alpha = gr.Slider(0, 1, value=1.0, step=0.05, label="Strength (alpha)", elem_id="alpha")
                transform = gr.Radio(list(h.TRANSFORMS), value="adain", label="Transform", elem_id="transform")
                levels = gr.Radio(list(h.LEVELS), value=next(iter(h.LEVELS)), label="Levels", elem_id="levels")
                color = gr.Radio(
                    list(h.COLOR_MODES), value=next(iter(h.COLOR_MODES)), label="Preserve colour", elem_id="color"
                )
                size = gr.Slider(
                    h.MIN_SIZE,
                    h.MAX_SIZE,
                    value=h.DEFAULT_SIZE,
                    step=32,
                    label="Full size: shorter side (px)",
                    elem_id="size",
                )
                with gr.Row():
                    preview_btn = gr.Button(f"Preview ({h.PREVIEW_SIZE} px)", variant="primary", elem_id="preview")
                    full_btn = gr.Button("Full size", elem_id="full")
                status = gr.Markdown("Pick a photo and a painting, then press **Preview**.", elem_id="status")
                result = gr.Image(
                    label="Result",
                    type="pil",
                    format="png",
                    interactive=False,
                    buttons=["download", "fullscreen"],
                    elem_id="result",
                )
        with gr.Accordion("About the sample images", open=False):
            gr.Markdown(samples.provenance())

        content_file.change(show_content, [content_file, content_sample], [content_view, content_status])
        content_sample.change(show_content, [content_file, content_sample], [content_view, content_status])
        gallery.select(pick_from_gallery, [picked], [picked])
        picked.change(h.styles_summary, [picked, style_files], [summary])
        style_files.change(h.styles_summary, [picked, style_files], [summary])
        inputs = [content_file, content_sample, picked, style_files, weights, alpha, transform, levels, color, size]
        if h.HAS_MASKS:
            inputs.append(mask_file)
        for button, preview in ((preview_btn, True), (full_btn, False)):
            button.click(run(preview), inputs, [result, status], concurrency_id="stylize", concurrency_limit=1)
    return demo


def warm_up(device: str | None = None) -> None:
    """Load the default model and run it once on a tiny sample, so the first click is fast."""
    get_model(device=device)
    stylize(samples.path("chelsea"), samples.path("monet_etretat"), content_size=64, style_size=64, device=device)


def launch_app(
    demo: gr.Blocks,
    *,
    host: str | None = "127.0.0.1",
    port: int | None = 7860,
    max_upload_mb: float = h.MAX_UPLOAD_MB,
    block: bool = True,
    quiet: bool = False,
) -> str:
    """Serve ``demo``; returns its URL (at once with ``block=False``, else when the server stops).

    ``host=None`` / ``port=None`` leave them to Gradio (``GRADIO_SERVER_NAME``, default
    127.0.0.1, and ``GRADIO_SERVER_PORT``), which is what a Hugging Face Space sets. Images
    declaring more than :data:`MAX_PIXELS` pixels are refused in this process.
    """
    if image.MAX_PIXELS is None or image.MAX_PIXELS > MAX_PIXELS:
        image.MAX_PIXELS = MAX_PIXELS  # the documented override (adain_nst.image.MAX_PIXELS)
    _, url, _ = demo.queue(default_concurrency_limit=1).launch(
        server_name=host,
        server_port=port,
        max_file_size=int(max_upload_mb * 2**20),
        show_error=False,
        ssr_mode=False,
        prevent_thread_lock=not block,
        quiet=quiet,
    )
    return str(url)


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    device: str | None = None,
    max_upload_mb: float = h.MAX_UPLOAD_MB,
    block: bool = True,
) -> tuple[gr.Blocks, str]:
    """Warm the model up, build the page and serve it on ``host:port`` (what ``adain-nst serve`` runs).

    Returns the page and its URL: when the server stops with ``block=True``, at once with ``False``.
    """
    warm_up(device)
    demo = create_app(device=device, max_upload_mb=max_upload_mb)
    url = launch_app(demo, host=host, port=port, max_upload_mb=max_upload_mb, block=block, quiet=not block)
    return demo, url


__all__ = ["MAX_PIXELS", "create_app", "launch_app", "serve", "warm_up"]

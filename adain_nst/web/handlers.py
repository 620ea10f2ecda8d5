"""What the web page does, as plain functions over the public API (no Gradio here: :mod:`.app` lays them out).

Each handler takes the values of the page's inputs and returns what its outputs show. A problem
the user can fix raises one of the named errors of :mod:`adain_nst.errors`;
:func:`stylize_page` turns it into the message the page shows (the error's name and text, the
upload's own file name instead of the server's temporary path), never a stack trace.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import load_image, samples, stylize
from ..errors import AdainNSTError, InputError, one_line

log = logging.getLogger(__name__)

#: Uploads larger than this are refused (by the server before they land, and again here).
MAX_UPLOAD_MB = 10
#: The shorter side (px) of a preview; the full-size result uses the size slider.
PREVIEW_SIZE = 256
DEFAULT_SIZE = 512
MIN_SIZE = 64
MAX_SIZE = 1024
TRANSFORMS = ("adain", "wct", "efdm")
#: The page's choices of levels (coarse to fine), by label.
LEVELS: dict[str, tuple[str, ...]] = {
    "multi-level: relu5_1 → relu1_1 (default)": ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1"),
    "multi-level: relu5_1 → relu3_1 (coarser strokes)": ("relu5_1", "relu4_1", "relu3_1"),
    "single level: relu4_1 (the AdaIN paper's pass)": ("relu4_1",),
}
#: The page's colour modes, by label (``preserve_color`` of :func:`adain_nst.stylize`).
COLOR_MODES: dict[str, str | None] = {
    "off: the painting's colours": None,
    "coral: recolour the painting to the photo": "coral",
    "luminance: keep the photo's colours": "luminance",
}
#: Errors a user can fix (the CLI's exit status 2): shown with their name and message.
USER_ERRORS = (AdainNSTError, OSError, ValueError)

Progress = Callable[..., Any]
"""Called as ``progress(fraction, desc=...)`` (what ``gradio.Progress`` takes)."""


def _no_progress(fraction: float, desc: str | None = None) -> None:
    return None


def check_upload(path: str | Path, what: str, max_mb: float = MAX_UPLOAD_MB) -> Path:
    """The uploaded file ``path`` if it exists and is at most ``max_mb`` MB (MiB), else :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"the {what} upload {p.name} is missing on the server; upload it again")
    size = p.stat().st_size
    if size > max_mb * 2**20:
        raise InputError(f"the {what} upload {p.name} is {size / 2**20:.1f} MB; uploads are limited to {max_mb:g} MB")
    return p


def choose_content(upload: str | Path | None, sample: str | None, max_mb: float = MAX_UPLOAD_MB) -> Path:
    """The content photo: the upload if there is one, else the bundled sample called ``sample``."""
    if upload:
        return check_upload(upload, "content", max_mb)
    if sample:
        return samples.path(sample)
    raise InputError("no content photo: upload one or pick a sample photo")


def choose_styles(
    names: Sequence[str] | None, uploads: Sequence[str | Path] | None, max_mb: float = MAX_UPLOAD_MB
) -> list[Path]:
    """The style images: the picked bundled paintings (in the gallery's order), then the uploads."""
    picked = set(names or ())
    paths = [samples.path(n) for n in samples.names("style") if n in picked]
    unknown = picked - set(samples.names("style"))
    if unknown:
        raise InputError(f"unknown bundled painting(s) {sorted(unknown)}; they are {samples.names('style')}")
    paths += [check_upload(u, "style", max_mb) for u in uploads or ()]
    if not paths:
        raise InputError("no style: pick a painting from the gallery or upload one")
    return paths


def parse_weights(text: str | None, n_styles: int) -> list[float] | None:
    """Interpolation weights typed as ``"0.7, 0.3"`` (one per style); empty: ``None`` (equal weights).

    The library checks the values themselves (finite, >= 0, not all 0).
    """
    if text is None or not text.strip():
        return None
    try:
        weights = [float(x) for x in text.replace(",", " ").replace(";", " ").split()]
    except ValueError:
        raise InputError(f"style weights must be numbers separated by commas, got {text!r}") from None
    if len(weights) != n_styles:
        raise InputError(f"{len(weights)} style weight(s) given for {n_styles} style(s): give one per style, or none")
    return weights


def toggle_style(selected: Sequence[str] | None, index: int) -> list[str]:
    """The picked paintings after a click on gallery item ``index``: picked if it was not, else dropped."""
    names = samples.names("style")
    if not 0 <= index < len(names):
        raise InputError(f"no bundled painting at gallery position {index}")
    chosen = set(selected or ())
    chosen ^= {names[index]}
    return [n for n in names if n in chosen]


def styles_summary(names: Sequence[str] | None, uploads: Sequence[str | Path] | None) -> str:
    """One line (Markdown) naming the styles a run will mix, in the order weights apply to."""
    picked = set(names or ())
    items = [n for n in samples.names("style") if n in picked] + [Path(u).name for u in uploads or ()]
    if not items:
        return "No style yet: click a painting in the gallery, tick one below, or upload your own."
    if len(items) == 1:
        return f"Style: **{items[0]}**."
    listed = ", ".join(f"{i}. **{name}**" for i, name in enumerate(items, 1))
    return f"Mixing {len(items)} styles: {listed} (weights apply in this order; empty means equal)."


@dataclass(frozen=True)
class Options:
    """The page's stylisation controls, checked and in the library's terms."""

    alpha: float = 1.0
    transform: str = "adain"
    levels: tuple[str, ...] = LEVELS[next(iter(LEVELS))]
    preserve_color: str | None = None
    size: int = DEFAULT_SIZE

    @classmethod
    def from_page(cls, alpha: float, transform: str, levels_label: str, color_label: str, size: float) -> Options:
        """Options from the widgets' values (slider numbers may arrive as floats, labels as shown)."""
        if transform not in TRANSFORMS:
            raise InputError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
        if levels_label not in LEVELS:
            raise InputError(f"unknown levels choice {levels_label!r}; choices: {list(LEVELS)}")
        if color_label not in COLOR_MODES:
            raise InputError(f"unknown colour mode {color_label!r}; choices: {list(COLOR_MODES)}")
        try:
            side = round(float(size))
        except (TypeError, ValueError):
            raise InputError(f"output size must be a number of pixels, got {size!r}") from None
        if not MIN_SIZE <= side <= MAX_SIZE:
            raise InputError(f"output size must be between {MIN_SIZE} and {MAX_SIZE} px, got {side}")
        return cls(float(alpha), transform, LEVELS[levels_label], COLOR_MODES[color_label], side)


# -- optional: two styles by region (the library's ``masks=``) ---------------------------------------------
#: Whether :func:`adain_nst.stylize` takes region masks here; the page shows its mask input only then.
HAS_MASKS = "masks" in inspect.signature(stylize).parameters


def region_masks(mask: Path, n_styles: int, side: int) -> list[np.ndarray]:
    """The regions a mask image gives ``n_styles`` (1 or 2) styles: white the first, black the second.

    With one style the black part keeps the photo; grey blends. The image is read by
    :func:`adain_nst.load_image` (its named errors), reduced towards ``side`` px (the library
    fits masks to the content); it needs the photo's aspect ratio.
    """
    if n_styles > 2:
        raise InputError(f"a mask splits the photo between two styles at most: pick one or two, not {n_styles}")
    grey = np.asarray(load_image(mask, size=side).convert("L"), dtype=np.float32) / 255.0
    return [grey] if n_styles == 1 else [grey, 1.0 - grey]


def render(
    content: Path,
    styles: Sequence[Path],
    options: Options,
    *,
    weights: Sequence[float] | None = None,
    mask: Path | None = None,
    preview: bool = True,
    device: str | None = None,
    progress: Progress = _no_progress,
) -> Image.Image:
    """Stylise ``content`` with ``styles`` through :func:`adain_nst.stylize` (raises its named errors).

    A preview's shorter side is :data:`PREVIEW_SIZE` (or ``options.size`` if smaller); the full
    result's is ``options.size``. The style is read at the same size, so a preview looks like a
    smaller copy of the full result. With ``mask`` each style gets its region
    (:func:`region_masks`) instead of being mixed with ``weights``.
    """
    side = min(PREVIEW_SIZE, options.size) if preview else options.size
    extra: dict[str, Any] = {}
    style: Path | list[Path] = styles[0] if len(styles) == 1 else list(styles)
    if mask is not None:
        if not HAS_MASKS:
            raise InputError("this version of adain-nst has no region masks")
        if weights is not None:
            raise InputError("with a mask each style has its own region: leave the style weights empty")
        progress(0.05, desc="reading the mask")
        extra["masks"] = region_masks(mask, len(styles), side)
        style = list(styles)
    progress(0.1, desc=f"stylising at {side} px")
    out = stylize(
        content,
        style,
        options.alpha,
        transform=options.transform,
        levels=options.levels,
        preserve_color=options.preserve_color,
        content_size=side,
        style_size=side,
        style_weights=list(weights) if weights is not None and len(styles) > 1 else None,
        device=device,
        **extra,
    )
    progress(1.0, desc="done")
    return out


def error_message(exc: BaseException, uploads: Sequence[str | Path] = ()) -> str:
    """What the page shows for ``exc``: ``**Name**: message`` for a user error, a neutral line otherwise.

    Temporary upload paths in the message are replaced by the uploaded file's name.
    """
    if not isinstance(exc, USER_ERRORS):
        return f"**Unexpected error** ({type(exc).__name__}): the server log has the details."
    text = one_line(exc)
    for u in sorted((str(u) for u in uploads if u), key=len, reverse=True):
        text = text.replace(u, Path(u).name)
    return f"**{type(exc).__name__}**: {text}"


def content_preview(
    upload: str | Path | None, sample: str | None, max_mb: float = MAX_UPLOAD_MB
) -> tuple[Image.Image | None, str]:
    """The content photo to show beside the controls (reduced), and a status line (an error message if unusable).

    The photo is read by :func:`adain_nst.load_image`, so a bad upload is named at once, as the
    library names it.
    """
    try:
        path = choose_content(upload, sample, max_mb)
        image = load_image(path, size=PREVIEW_SIZE)
    except Exception as exc:
        if not isinstance(exc, USER_ERRORS):
            log.exception("the web app could not show the content photo")
        return None, error_message(exc, [upload] if upload else [])
    image.thumbnail((2 * PREVIEW_SIZE, 2 * PREVIEW_SIZE))
    return image, f"Content: **{path.name}**."


def stylize_page(
    content_upload: str | None,
    content_sample: str | None,
    style_names: Sequence[str] | None,
    style_uploads: Sequence[str] | None,
    weights_text: str | None,
    alpha: float,
    transform: str,
    levels_label: str,
    color_label: str,
    size: float,
    mask_upload: str | None = None,
    *,
    preview: bool = True,
    device: str | None = None,
    max_mb: float = MAX_UPLOAD_MB,
    progress: Progress = _no_progress,
) -> tuple[Image.Image | None, str]:
    """The Preview / Full size buttons: the result image (or ``None``) and a status line.

    Never raises: a named error becomes its message, anything else a neutral line (logged).
    """
    uploads = [u for u in [content_upload, *(style_uploads or ()), mask_upload] if u]
    start = time.perf_counter()
    try:
        progress(0.0, desc="reading the images")
        content = choose_content(content_upload, content_sample, max_mb)
        styles = choose_styles(style_names, style_uploads, max_mb)
        weights = parse_weights(weights_text, len(styles))
        options = Options.from_page(alpha, transform, levels_label, color_label, size)
        mask = check_upload(mask_upload, "mask", max_mb) if mask_upload else None
        out = render(
            content, styles, options, weights=weights, mask=mask, preview=preview, device=device, progress=progress
        )
    except Exception as exc:
        if not isinstance(exc, USER_ERRORS):
            log.exception("the web app's stylisation failed")
        return None, error_message(exc, uploads)
    seconds = time.perf_counter() - start
    what = "Preview" if preview else "Result"
    text = f"{what}: {out.width} × {out.height} px in {seconds:.1f} s ({options.transform}, {len(options.levels)} level"
    text += "s" if len(options.levels) > 1 else ""
    text += f", {len(styles)} style{'s' if len(styles) > 1 else ''} by mask)." if mask else ")."
    if preview and options.size > PREVIEW_SIZE:
        text += f" **Full size** renders it at {options.size} px (shorter side)."
    return out, text


__all__ = [
    "COLOR_MODES",
    "DEFAULT_SIZE",
    "HAS_MASKS",
    "LEVELS",
    "MAX_SIZE",
    "MAX_UPLOAD_MB",
    "MIN_SIZE",
    "PREVIEW_SIZE",
    "TRANSFORMS",
    "USER_ERRORS",
    "Options",
    "check_upload",
    "choose_content",
    "choose_styles",
    "content_preview",
    "error_message",
    "parse_weights",
    "region_masks",
    "render",
    "styles_summary",
    "stylize_page",
    "toggle_style",
]

"""``adain-nst stylize``: one content x style(s) pair, or every pair of two folders.

Exit status: 0 all written; 2 a bad option or input, nothing written; 3 a folder job ran
but some pairs failed (each named on stderr and under ``"failed"`` in ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._checks import check_alpha, check_positive_int, check_style_weights
from ..color import COLOR_MODES, check_color_mode
from ..engine.runtime import dtype_name, resolve_device, resolve_dtype
from ..errors import InputError, MaskError
from ..image import output_stems, save_image
from ..masks import format_label, load_masks, masks_from_labels, parse_label
from ..nn.transforms import TRANSFORMS
from ..pipeline import check_region_alpha, encode_style_images
from ..tiling import parse_memory
from ._options import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    USER_ERRORS,
    add_model_options,
    check_image_suffix,
    check_model_args,
    expand_paths,
    floats,
    load_model,
    one_line,
    require_files,
)

DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


NO_STYLE = "none"
"""A STYLE argument that marks a region keeping the content (with masks)."""


@dataclass(frozen=True)
class Job:
    """One output image: a content, the style(s) blended into it (``None``: a region keeping the content)."""

    content: Path
    styles: list[Path | None]
    output: Path


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Declare ``stylize`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "stylize",
        help="stylise content image(s) with style image(s)",
        description=(
            "Stylise CONTENT with STYLE. Several style files are interpolated (see --style-weights). "
            "If CONTENT or a STYLE is a directory, every content x style pair is produced instead, "
            "written into the OUT directory as <content>_<style>.<ext> (inputs whose names differ only in "
            "their suffix, pic.jpg and pic.png, keep it: pic_jpg_<style>.<ext>); hidden files are skipped; "
            "pairs that fail are named on stderr and the exit status is 3. With --mask (one per style) or "
            "--label-map each style paints its own region instead (docs/masks.md)."
        ),
    )
    p.add_argument("content", help="content image file or directory")
    p.add_argument("style", nargs="+", help="style image file(s) or directory")
    p.add_argument(
        "-o", "--out", required=True, help="output file, or directory (existing, or ending with /) for the result(s)"
    )
    p.add_argument("--alpha", type=float, default=1.0, help="degree of stylisation in [0, 1] (default 1)")
    add_cascade_options(p)
    p.add_argument("--style-weights", type=floats, help="interpolation weights, one per style, e.g. 0.3,0.7")
    add_mask_options(p)
    p.add_argument(
        "--preserve-color",
        type=color_modes,
        metavar="MODE",
        help="keep the content's colours: coral or luminance; with masks a list, one per mask (none, coral, "
        "luminance), e.g. coral,none",
    )
    p.add_argument("--content-size", type=int, help="resize content so its shorter side is this many px")
    p.add_argument("--style-size", type=int, help="resize styles so their shorter side is this many px")
    p.add_argument("--ext", default="png", help="output format for directory outputs (default png)")
    p.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        default=None,
        help="precision: float32 (default, the same numbers on every machine), auto (bfloat16 where the "
        "CPU/GPU runs it natively), bfloat16, float16 (CUDA only)",
    )
    p.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="memory budget, e.g. 2GB (= 2e9 bytes), 1.5GiB or a number of bytes: host RAM on CPU, device "
        "memory on CUDA. Bigger contents are stylised in tiles with the whole image's statistics "
        "(docs/highres.md); without it, tiles are used when the image would not fit the available memory",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    add_model_options(p)
    return p


def add_cascade_options(p: argparse.ArgumentParser) -> None:
    """``--transform``, ``--levels`` and ``--level-alpha`` (shared with ``demo``)."""
    p.add_argument("--transform", choices=sorted(TRANSFORMS), help="feature transform (default: the model's)")
    p.add_argument(
        "--levels",
        type=level_list,
        help="levels coarse to fine, e.g. relu5_1,relu4_1,relu3_1 (default: the model's); "
        "relu4_1 alone with adain is the AdaIN paper's single pass",
    )
    p.add_argument(
        "--level-alpha",
        type=level_alphas,
        metavar="LEVEL=A,...",
        help="per-level alpha, e.g. relu1_1=0.5,relu2_1=0.8 (others: --alpha)",
    )


def add_mask_options(p: argparse.ArgumentParser, *, region_alpha: bool = True) -> None:
    """``--mask`` (repeated), ``--label-map`` / ``--labels`` and ``--region-alpha`` (spatial control)."""
    p.add_argument(
        "--mask",
        action="append",
        dest="masks",
        metavar="FILE",
        help="region mask for the style in the same position (repeat: one per style; white = that style, "
        "grey = a soft blend, black = not; a transparent PNG uses its alpha). A STYLE of 'none' keeps the "
        "content in its region; pixels no mask covers keep the content too. See docs/masks.md",
    )
    p.add_argument(
        "--label-map",
        metavar="FILE",
        help="one image whose colours (RGB) or integer values (greyscale, palette) name the regions, instead "
        "of --mask: one style per label, labels in ascending order unless --labels says otherwise",
    )
    p.add_argument(
        "--labels",
        type=label_list,
        metavar="L1,L2,...",
        help="the --label-map labels of the styles, in order: integers (0,1,2) or colours (#ff0000,#00ff00); "
        "other labels keep the content",
    )
    if region_alpha:
        p.add_argument("--region-alpha", type=floats, metavar="A,...", help="per-mask strength in [0, 1], e.g. 1,0.5")


def color_modes(text: str) -> str | list[str | None] | None:
    """``coral`` -> ``"coral"``; ``coral,none`` -> ``["coral", None]`` (one mode per mask)."""
    items = [t.strip().lower() for t in text.split(",")]
    allowed = (*COLOR_MODES, NO_STYLE)
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"expected {', '.join(allowed)} (a list with masks), got {text!r}")
    modes: list[str | None] = [None if t == NO_STYLE else t for t in items]
    return modes[0] if len(modes) == 1 else modes


def label_list(text: str) -> list[Any]:
    """``0,1,2`` or ``#ff0000,#00ff00`` -> labels (see :func:`adain_nst.masks.parse_label`)."""
    try:
        return [parse_label(t) for t in text.split(",") if t.strip()]
    except MaskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def region_options(args: argparse.Namespace, n_styles: int) -> dict[str, Any]:
    """The ``masks`` / ``region_alpha`` keywords from ``--mask``, ``--label-map``, ``--labels``, ``--region-alpha``.

    Every mask is read and checked here, before the model loads (a bad one: exit 2).
    """
    if args.labels and not args.label_map:
        raise InputError("--labels names the regions of a --label-map; give the label map too")
    if args.masks and args.label_map:
        raise InputError("give either --mask (one per style) or --label-map, not both")
    alphas = getattr(args, "region_alpha", None)
    if not args.masks and not args.label_map:
        if alphas is not None:
            raise InputError("--region-alpha needs --mask or --label-map (one strength per region)")
        return {}
    if args.style_weights:
        raise InputError("--style-weights interpolates styles; with masks each style has its own region")
    if args.masks:
        masks = load_masks(args.masks, n_styles)
    else:
        masks, labels = masks_from_labels(args.label_map, args.labels)
        if len(masks) != n_styles:
            found = ", ".join(format_label(x) for x in labels)
            raise MaskError(
                f"--label-map {args.label_map} has {len(masks)} region(s) ({found}) for {n_styles} style(s): give one "
                "style per label, or name the labels of the styles with --labels"
            )
    if not hasattr(args, "region_alpha"):
        return {"masks": masks}
    return {"masks": masks, "region_alpha": None if alphas is None else check_region_alpha(alphas, n_styles)}


def level_list(text: str) -> list[str]:
    """``relu5_1,relu4_1`` -> ``["relu5_1", "relu4_1"]`` (checked against the model later)."""
    return [t for t in text.replace(",", " ").split() if t]


def level_alphas(text: str) -> dict[str, float]:
    """``relu1_1=0.5,relu2_1=0.8`` -> ``{"relu1_1": 0.5, "relu2_1": 0.8}``."""
    out = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected LEVEL=ALPHA pairs such as relu1_1=0.5, got {item!r}") from None
        if not sep:
            raise argparse.ArgumentTypeError(f"expected LEVEL=ALPHA pairs such as relu1_1=0.5, got {item!r}")
    return out


def cascade_options(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The ``stylize`` keywords of ``--transform/--levels/--level-alpha``, checked against ``model`` (exit 2)."""
    model.cascade(args.transform, args.levels)  # bad levels fail before any image is read
    return {"transform": args.transform, "levels": args.levels, "level_alpha": args.level_alpha}


def plan_jobs(args: argparse.Namespace) -> tuple[list[Job], bool]:
    """The outputs to write, and whether this is a folder job (every content x style pair).

    Folder jobs name outputs ``<content>_<style>.<ext>`` (:func:`adain_nst.image.output_stems`:
    inputs whose stems collide keep their suffix, ``pic_jpg_<style>.png``); names that would
    still collide are refused here, before any work. ``-o`` is a folder when it exists as one or
    ends with ``/``.
    """
    contents, content_dir = expand_paths([args.content], "content")
    masked = bool(getattr(args, "masks", None) or getattr(args, "label_map", None))
    kept = [s.lower() == NO_STYLE and not Path(s).exists() for s in args.style]
    if any(kept) and not masked:
        raise InputError(f"a STYLE of '{NO_STYLE}' marks a region that keeps the content: it needs --mask")
    styles, style_dir = expand_paths([s for s, k in zip(args.style, kept, strict=True) if not k], "style")
    if masked and style_dir:
        raise InputError("with --mask or --label-map give one style file per region, not a directory")
    folder_job = content_dir or style_dir
    if folder_job and args.style_weights:
        raise InputError("--style-weights interpolates several style files; it cannot be used with directories")
    if not folder_job and not masked:
        check_style_weights(args.style_weights, len(styles))
    require_files([*contents, *styles])
    if masked:  # the styles in their given order, None for 'none'
        it = iter(styles)
        styles = [None if k else next(it) for k in kept]  # type: ignore[misc]
    out = Path(args.out)
    out_is_dir = out.is_dir() or str(args.out).endswith(("/", os.sep))
    ext = args.ext.lstrip(".")
    if folder_job:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is a file; several outputs need a directory")
        check_image_suffix(f"x.{ext}", "--ext")
        contents = _distinct(contents)
        c_names = output_stems(contents)
        if masked:  # every content with all the regions' styles, in their order
            regions = list(styles)
            return [Job(c, regions, out / f"{cn}_regions.{ext}") for c, cn in zip(contents, c_names, strict=True)], True
        styles = _distinct(styles)
        s_names = output_stems(styles)
        jobs = [
            Job(c, [s], out / f"{cn}_{sn}.{ext}")
            for c, cn in zip(contents, c_names, strict=True)
            for s, sn in zip(styles, s_names, strict=True)
        ]
        _check_distinct_outputs(jobs)
        return jobs, True
    if out_is_dir:
        target = check_image_suffix(out / f"{contents[0].stem}_stylized.{ext}", "--ext")
    elif not out.suffix:
        raise InputError(f"-o {out} has no image suffix: name a file such as {out}.png, or a folder as {out}/")
    else:
        target = check_image_suffix(out)
    return [Job(contents[0], list(styles), target)], False


def _first_use(jobs: list[Job]) -> dict[tuple[Path | None, ...], int]:
    """Each style list of ``jobs`` -> the index of the first job that uses it."""
    first: dict[tuple[Path | None, ...], int] = {}
    for i, job in enumerate(jobs):
        first.setdefault(tuple(job.styles), i)
    return first


class StyleReuse:
    """The style features of a folder job's current style, encoded once for all its contents.

    A folder job pairs every content with every style; re-encoding the style for each pair
    costs about a third of a call at equal sizes. The features are those ``stylize`` computes
    itself (the same loading, levels, precision and engine), so outputs are unchanged. Only
    for plain calls: masks and ``preserve_color="coral"`` need the style images per content.
    """

    def __init__(self, model: Any, options: dict[str, Any]) -> None:
        self.model, self.options = model, options
        self.cascade = model.cascade(options.get("transform"), options.get("levels"))
        self._key: tuple[Path | None, ...] | None = None
        self._feats: Any = None
        self._error: BaseException | None = None

    @staticmethod
    def applies(options: dict[str, Any]) -> bool:
        plain = options.get("masks") is None and options.get("backend", "engine") == "engine"
        return plain and check_color_mode(options.get("preserve_color")) != "coral"

    def features(self, styles: list[Path | None]) -> Any:
        """``{level: [maps]}`` of ``styles``; a style that cannot be read raises its error again."""
        key = tuple(styles)
        if key != self._key:
            self._key, self._feats, self._error = key, None, None
            try:
                self._feats = self._encode(styles)
            except USER_ERRORS as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._feats

    def _encode(self, styles: list[Path | None]) -> Any:
        return encode_style_images(
            self.cascade,
            [str(p) for p in styles],
            size=self.options.get("style_size"),
            device=self.model.device,
            dtype=self.options.get("dtype"),
        )


def _distinct(paths: list[Path]) -> list[Path]:
    """``paths`` without repeats of the same file (kept in first-seen order)."""
    seen: dict[Path, Path] = {}
    for p in paths:
        seen.setdefault(p.resolve(), p)
    return list(seen.values())


def _check_distinct_outputs(jobs: list[Job]) -> None:
    """Refuse two jobs writing the same file (``a_b`` + ``c`` and ``a`` + ``b_c`` both give ``a_b_c``)."""
    seen: dict[str, Job] = {}
    for job in jobs:
        other = seen.setdefault(job.output.name.casefold(), job)
        if other is not job:
            raise InputError(
                f"{other.content} with {other.styles[0]} and {job.content} with {job.styles[0]} would both be "
                f"written as {job.output.name}: rename one of the inputs"
            )


def run(args: argparse.Namespace) -> int:
    """Stylise what ``args`` name; returns the exit status (0, or 3 when some pairs of a folder job failed)."""
    alpha = check_alpha(args.alpha)
    for flag, size in (("--content-size", args.content_size), ("--style-size", args.style_size)):
        if size is not None:
            check_positive_int(size, flag)
    check_model_args(args)
    if args.max_memory is not None:
        parse_memory(args.max_memory, "--max-memory")
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    jobs, folder_job = plan_jobs(args)
    regions = region_options(args, len(args.style))
    color = args.preserve_color
    if isinstance(color, list) and not regions:
        raise InputError("a list of --preserve-color modes needs --mask or --label-map (one mode per region)")
    model = load_model(args, device)
    options = dict(
        style_weights=args.style_weights,
        preserve_color=color or False,
        content_size=args.content_size,
        style_size=args.style_size,
        dtype=dtype,
        max_memory=args.max_memory,
        **regions,
        **cascade_options(args, model),
    )
    return execute(jobs, model, alpha, options, keep_going=folder_job, as_json=args.json, out_label=str(args.out))


def execute(
    jobs: list[Job],
    model: Any,
    alpha: float,
    options: dict[str, Any],
    *,
    keep_going: bool,
    as_json: bool,
    out_label: str,
) -> int:
    """Write every job's output; returns 0, or 3 when ``keep_going`` and some jobs failed.

    Without ``keep_going`` the first failure is raised (a user error: exit 2). A summary goes to
    stdout (JSON with ``as_json``), each failure to stderr.
    """
    dtype = resolve_dtype(options.get("dtype"), model.device)
    done: dict[int, dict[str, Any]] = {}
    errors: dict[int, dict[str, Any]] = {}
    reuse = StyleReuse(model, options) if keep_going and StyleReuse.applies(options) else None
    # Style by style, so each style is encoded once and only one style's features are held.
    order: Sequence[int] = range(len(jobs))
    if reuse is not None:
        first = _first_use(jobs)
        order = sorted(order, key=lambda i: first[tuple(jobs[i].styles)])
    t0 = time.perf_counter()
    for i in tqdm(order, desc="stylize", unit="img", disable=len(jobs) < 2 or as_json):
        job = jobs[i]
        t = time.perf_counter()
        record: dict[str, Any] = {
            "content": str(job.content),
            "styles": [NO_STYLE if s is None else str(s) for s in job.styles],
        }
        try:
            if reuse is not None:
                feats = reuse.features(job.styles)
                image = model.stylize(str(job.content), None, alpha, style_feats=feats, **options)
            else:
                styles = [None if s is None else str(s) for s in job.styles]
                image = model.stylize(str(job.content), styles, alpha, **options)
            save_image(image, job.output)
        except USER_ERRORS as exc:
            if not keep_going:
                raise  # a single pair: a user error, nothing written (exit 2)
            errors[i] = {**record, "output": str(job.output), "error": one_line(exc)}
            continue
        seconds = round(time.perf_counter() - t, 4)
        done[i] = {**record, "output": str(job.output), "size": list(image.size), "seconds": seconds}
    results = [done[i] for i in sorted(done)]  # reported in the jobs' order, however they ran
    failed = [errors[i] for i in sorted(errors)]
    summary = {
        "outputs": results,
        "count": len(results),
        "failed": failed,
        "dtype": dtype_name(dtype),
        "device": str(model.device),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    for f in failed:
        print(f"error: {f['content']} with {', '.join(f['styles'])}: {f['error']}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary, indent=2))
    elif len(results) == 1 and not failed:
        print(f"wrote {results[0]['output']}")
    else:
        tail = f"; {len(failed)} of {len(jobs)} failed" if failed else ""
        print(f"wrote {len(results)} images to {out_label}{tail}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


__all__ = [
    "DTYPE_CHOICES",
    "NO_STYLE",
    "Job",
    "StyleReuse",
    "add_cascade_options",
    "add_mask_options",
    "add_parser",
    "cascade_options",
    "color_modes",
    "execute",
    "label_list",
    "plan_jobs",
    "region_options",
    "run",
]

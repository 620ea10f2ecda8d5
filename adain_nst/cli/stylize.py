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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._checks import check_alpha, check_positive_int, check_style_weights
from ..engine.runtime import dtype_name, resolve_device, resolve_dtype
from ..errors import InputError
from ..image import output_stems, save_image
from ..nn.transforms import TRANSFORMS
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


@dataclass(frozen=True)
class Job:
    """One output image: a content, the style(s) blended into it and where it goes."""

    content: Path
    styles: list[Path]
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
            "pairs that fail are named on stderr and the exit status is 3."
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
    p.add_argument("--preserve-color", choices=("coral", "luminance"), help="keep the content's colours")
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
    styles, style_dir = expand_paths(args.style, "style")
    folder_job = content_dir or style_dir
    if folder_job and args.style_weights:
        raise InputError("--style-weights interpolates several style files; it cannot be used with directories")
    if not folder_job:
        check_style_weights(args.style_weights, len(styles))
    require_files([*contents, *styles])
    out = Path(args.out)
    out_is_dir = out.is_dir() or str(args.out).endswith(("/", os.sep))
    ext = args.ext.lstrip(".")
    if folder_job:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is a file; several outputs need a directory")
        check_image_suffix(f"x.{ext}", "--ext")
        contents, styles = _distinct(contents), _distinct(styles)
        c_names, s_names = output_stems(contents), output_stems(styles)
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
    return [Job(contents[0], styles, target)], False


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
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    jobs, folder_job = plan_jobs(args)
    model = load_model(args, device)
    options = dict(
        style_weights=args.style_weights,
        preserve_color=args.preserve_color or False,
        content_size=args.content_size,
        style_size=args.style_size,
        dtype=dtype,
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
    results: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for job in tqdm(jobs, desc="stylize", unit="img", disable=len(jobs) < 2 or as_json):
        t = time.perf_counter()
        record: dict[str, Any] = {"content": str(job.content), "styles": [str(s) for s in job.styles]}
        try:
            image = model.stylize(str(job.content), record["styles"], alpha, **options)
            save_image(image, job.output)
        except USER_ERRORS as exc:
            if not keep_going:
                raise  # a single pair: a user error, nothing written (exit 2)
            failed.append({**record, "output": str(job.output), "error": one_line(exc)})
            continue
        seconds = round(time.perf_counter() - t, 4)
        results.append({**record, "output": str(job.output), "size": list(image.size), "seconds": seconds})
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
    "Job",
    "add_cascade_options",
    "add_parser",
    "cascade_options",
    "execute",
    "plan_jobs",
    "run",
]

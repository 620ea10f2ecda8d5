"""Stylisation quality on the AdaIN eval images: style loss, content loss and content distance per method.

Pairs: a fixed, reproducible subset of ``$ADAIN_NST_TEST_DATA/data/eval`` (``--pairs N``,
default 44): with C contents (sorted by name), ``k = ceil(N / C)`` styles spread evenly over the
sorted style list (4 of the 20 by default), and pair ``j`` is content ``j mod C`` with chosen
style ``(j div C + j mod C) mod k``, for ``j < N``. Any prefix cycles through contents and
styles, and ``N = C * k`` is every content with every chosen style once. ``--pairs 0`` takes
all C x S pairs. Contents and styles are resized to ``--size`` px on the shorter side.

Methods (each stylises at alpha=1 through the public ``stylize``, float32 unless ``--dtype``):

* single level: each ``--decoder NAME=PATH`` on the cd16x e4 encoder (``AdaINModel``); the
  reconstruction decoder ``d4=$ADAIN_NST_TEST_DATA/weights/cd16x/d4.pth`` is added by default;
* multi level: the bundled family ``adain_nst.load_model("cd16x")`` (a ``MultiLevelModel``) with
  each of ``--family-transforms`` (``adain,wct,efdm``) x ``--level-sets`` (``54321,4321,4``: the
  digits are the relu*_1 levels, coarse to fine), named like ``wct 5-4-3-2-1``. Level sets of
  several levels and any transform but AdaIN at ``4`` run the reconstruction decoders d5..d1;
  ``adain`` with ``4`` alone is the paper's single pass, which the family runs with its
  AdaIN-trained decoder (cd16x-adain), so that row is named ``adain 4 (AdaIN decoder)``;
* ``default``: ``family.stylize(content, style)`` with no options (its transform and levels are
  printed);
* optionally Gatys et al. optimisation on the first ``--gatys-pairs`` pairs (its ratios are
  taken over those pairs only).

Measures, by the quality judge (``adain_nst.quality.Judge``) on the cd16x **e5** encoder (not
the network that stylised), mean over the pairs:

* style loss: sum over relu1_1..relu4_1 of MSE(channel mean) + MSE(channel std);
* content loss: MSE(e5(output), AdaIN(e5(content), e5(style))) at relu4_1 (the AdaIN paper's);
* content distance: MSE(e5(output), e5(content)) at relu4_1 (``Judge.content_distance``);
* each also as a ratio to the ``--baseline`` method (default ``d4``) over the same pairs;
* seconds per image: wall time of one ``stylize`` call (style encoded every call, after one
  untimed warm-up call per method).

Writes ``quality.json`` (summary, per-pair values, the machine), ``quality.md`` (the table)
and ``contact_sheet.jpg`` (rows: the first ``--sheet-pairs`` pairs; columns: content, style,
each method) to ``--out``. The full run (44 pairs at 512 px, d4 + default + 9 family rows):

    ADAIN_NST_TEST_DATA=../shared python benchmarks/quality.py --out benchmarks/results/quality

which is the same as the explicit

    ADAIN_NST_TEST_DATA=../shared python benchmarks/quality.py \
        --decoder d4=../shared/weights/cd16x/d4.pth --family-transforms adain,wct,efdm \
        --level-sets 54321,4321,4 --pairs 44 --size 512 --baseline d4 --out benchmarks/results/quality

The earlier single-level evaluation (the model card's) is still
``--decoder ours=weights/cd16x-adain/decoder.safetensors --limit-styles 4 --family-transforms ""
--no-default`` (d4 added); ``--family-transforms ""`` and ``--no-default`` leave the family out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw
from torch import Tensor
from tqdm.auto import tqdm

import adain_nst
from adain_nst import InputError, MultiLevelModel, VGGEncoder, gatys, model_from_files
from adain_nst.bench.measure import machine_info
from adain_nst.engine.runtime import dtype_name, resolve_dtype
from adain_nst.image import ImageKind, from_tensor, list_images, resize_shorter, save_image, to_tensor
from adain_nst.quality import GRAM_LAYERS, Judge

THUMB = 160
LABEL_H = 30
MEASURES = ("style_loss", "gram_loss", "content_loss", "content_distance")


@dataclass
class Method:
    """One row of the table: a name, what it is, and ``run(content, style) -> output`` tensors in [0, 1]."""

    name: str
    what: str
    run: Callable[[Tensor, Tensor], Tensor]
    info: dict[str, Any] = field(default_factory=dict)
    max_pairs: int | None = None  # None: every pair


def _shared() -> Path:
    root = os.environ.get("ADAIN_NST_TEST_DATA")
    if not root:
        sys.exit("set ADAIN_NST_TEST_DATA to the shared data folder (e.g. ../shared)")
    return Path(root)


def _thumb(x: Tensor) -> Image.Image:
    im = from_tensor(x, ImageKind("pil"))
    im.thumbnail((THUMB, THUMB))
    canvas = Image.new("RGB", (THUMB, THUMB), "white")
    canvas.paste(im, ((THUMB - im.width) // 2, (THUMB - im.height) // 2))
    return canvas


def select_pairs(contents: Sequence[Path], styles: Sequence[Path], n: int) -> list[tuple[Path, Path]]:
    """The first ``n`` pairs of the fixed enumeration described in the module docstring (0: all)."""
    c, s = len(contents), len(styles)
    if not c or not s:
        raise InputError(f"no eval images: {c} contents, {s} styles")
    if n <= 0 or n >= c * s:
        n, k = c * s, s
    else:
        k = min(s, math.ceil(n / c))
    chosen = [styles[int((i + 0.5) * s / k)] for i in range(k)]  # centred, evenly spread
    return [(contents[j % c], chosen[(j // c + j % c) % k]) for j in range(n)]


def parse_level_set(spec: str) -> tuple[str, ...]:
    """``"4321"`` -> ``("relu4_1", "relu3_1", "relu2_1", "relu1_1")``."""
    if not spec or not spec.isdigit():
        raise InputError(f"a level set is digits of relu*_1 levels coarse to fine, e.g. 54321 or 4; got {spec!r}")
    return tuple(f"relu{d}_1" for d in spec)


def _short(levels: Sequence[str]) -> str:
    return "-".join(lv[4] for lv in levels)


def family_methods(
    family: MultiLevelModel, transforms: Sequence[str], level_sets: Sequence[str], *, default: bool, dtype: Any
) -> list[Method]:
    """The ``default`` row and every transform x level set on the bundled family."""
    methods = []
    if default:
        cascade = family.cascade()
        level_alpha = dict(family.default_level_alpha)
        extra = f", level_alpha {level_alpha}" if level_alpha else ""
        methods.append(
            Method(
                "default",
                f"cd16x family, `stylize(c, s)` with no options: {cascade.transform} {_short(cascade.levels)}{extra}",
                lambda c, s: family.stylize(c, s, dtype=dtype),
                {"transform": cascade.transform, "levels": list(cascade.levels), "level_alpha": level_alpha},
            )
        )
    for transform in transforms:
        for spec in level_sets:
            levels = parse_level_set(spec)
            cascade = family.cascade(transform, levels)  # validates transform and levels
            trained = len(cascade.pairs) == 1 and family.adain is not None and cascade.pairs[0] is family.adain
            name = f"{transform} {_short(levels)}"
            if trained:
                name += " (AdaIN decoder)"
                what = (
                    f"cd16x family: {transform} at {levels[0]}, the AdaIN-trained decoder "
                    "(cd16x-adain, the paper's single pass)"
                )
            else:
                decoders = "d" + ",d".join(lv[4] for lv in levels)
                what = f"cd16x family: {transform} at {', '.join(levels)}; reconstruction decoder(s) {decoders}"
            methods.append(
                Method(
                    name,
                    what,
                    lambda c, s, t=transform, lv=levels: family.stylize(c, s, transform=t, levels=lv, dtype=dtype),
                    {"transform": transform, "levels": list(levels), "adain_trained_decoder": trained},
                )
            )
    return methods


def decoder_specs(args: argparse.Namespace, cd16x: Path) -> dict[str, str]:
    """``--decoder`` NAME=PATH pairs, with ``d4`` (the shared reconstruction decoder) added first if absent."""
    specs: dict[str, str] = {}
    for spec in args.decoder or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            sys.exit(f"--decoder takes NAME=PATH, got {spec!r}")
        specs[name] = path
    d4 = cd16x / "d4.pth"
    given = {Path(p).resolve() for p in specs.values()}
    if args.default_d4 and "d4" not in specs and d4.is_file() and d4.resolve() not in given:
        specs = {"d4": str(d4), **specs}
    return specs


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def summarise(per_pair: dict[str, dict[str, list[float]]], baseline: str) -> dict[str, dict[str, Any]]:
    """Means per method, and ratios to ``baseline``'s means over the same pairs."""
    base = per_pair[baseline]
    base_at = {i: k for k, i in enumerate(base["pair"])}
    summary = {}
    for name, v in per_pair.items():
        s: dict[str, Any] = {"pairs": len(v["pair"])}
        for m in MEASURES:
            s[f"{m}_mean"] = _mean(v[m])
        shared = [(k, base_at[i]) for k, i in enumerate(v["pair"]) if i in base_at]
        for m in MEASURES:
            ours = _mean([v[m][k] for k, _ in shared])
            theirs = _mean([base[m][b] for _, b in shared])
            s[f"{m}_ratio"] = ours / theirs if theirs > 0 else float("nan")
        s["seconds_per_image"] = _mean(v["seconds"])
        s["seconds_per_image_median"] = statistics.median(v["seconds"]) if v["seconds"] else float("nan")
        summary[name] = s
    return summary


def _sheet(rows: list[list[Image.Image | None]], labels: list[str]) -> Image.Image:
    cols = len(labels)
    sheet = Image.new("RGB", (cols * THUMB, LABEL_H + len(rows) * THUMB), "white")
    draw = ImageDraw.Draw(sheet)
    for x, label in enumerate(labels):  # the default font is ~6 px a character
        lines = textwrap.wrap(label, width=THUMB // 6 - 1)[:2]
        draw.multiline_text((x * THUMB + 4, 2), "\n".join(lines), fill="black", spacing=2)
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            if im is not None:
                sheet.paste(im, (x * THUMB, LABEL_H + y * THUMB))
    return sheet


def run(args: argparse.Namespace) -> dict[str, Any]:
    shared = _shared()
    cd16x = shared / "weights" / "cd16x"
    torch.set_num_threads(args.threads or torch.get_num_threads())
    if args.judge == "vgg19":
        judge = (
            Judge.vgg19()
        )  # the bundled ImageNet VGG-19 (Gatys optimises on it; cd16x-adain trains its style loss on it)
    else:
        e5 = VGGEncoder.from_cd16x_checkpoint(cd16x / "e5.pth")
        judge = Judge(e5, name="cd16x e5")
    dtype = resolve_dtype(args.dtype, torch.device("cpu"))

    decoders = decoder_specs(args, cd16x)
    methods: list[Method] = []
    for name, path in decoders.items():
        model = model_from_files(cd16x / "e4.pth", path)
        methods.append(
            Method(
                name,
                f"single level: decoder `{Path(path).name}` on cd16x e4 (relu4_1, AdaIN)",
                lambda c, s, m=model: m.stylize(c, s, alpha=1.0, dtype=dtype),
                {"transform": "adain", "levels": ["relu4_1"], "decoder": path},
            )
        )
    transforms = [t.strip() for t in args.family_transforms.split(",") if t.strip()]
    level_sets = [ls.strip() for ls in args.level_sets.split(",") if ls.strip()]
    if (transforms and level_sets) or args.default:
        family = adain_nst.load_model("cd16x")
        assert isinstance(family, MultiLevelModel)
        try:
            methods += family_methods(family, transforms, level_sets, default=args.default, dtype=dtype)
        except InputError as exc:
            sys.exit(f"bad --family-transforms/--level-sets: {exc}")
    if args.gatys_pairs > 0:
        methods.append(
            Method(
                "gatys",
                f"Gatys et al. optimisation (preset {args.gatys_preset}), {args.gatys_steps} L-BFGS steps",
                lambda c, s: gatys(c, s, preset=args.gatys_preset, steps=args.gatys_steps, progress=False),
                {"steps": args.gatys_steps},
                max_pairs=args.gatys_pairs,
            )
        )
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        sys.exit(f"method names must be distinct: {names}")
    if args.baseline not in names:
        sys.exit(f"--baseline {args.baseline!r} is not one of the methods: {names}")

    contents = list_images(shared / "data" / "eval" / "content")[: args.limit_contents]
    styles = list_images(shared / "data" / "eval" / "style")[: args.limit_styles]
    pairs = select_pairs(contents, styles, args.pairs)
    used = sorted({p for pair in pairs for p in pair})
    # Decode and resize each picture once: the eval photos are up to 1320 px and JPEG decoding
    # would otherwise dominate the run.
    images = {p: resize_shorter(to_tensor(p)[0], args.size) for p in used}
    per_pair: dict[str, dict[str, list[float]]] = {
        m.name: {"pair": [], "seconds": [], **{k: [] for k in MEASURES}} for m in methods
    }
    sheet_rows: list[list[Image.Image | None]] = []
    t0 = time.perf_counter()
    for i, (c_path, s_path) in enumerate(tqdm(pairs, desc="quality", unit="pair")):
        content, style = images[c_path], images[s_path]
        row: list[Image.Image | None] = [_thumb(content), _thumb(style)]
        for method in methods:
            if method.max_pairs is not None and i >= method.max_pairs:
                row.append(None)
                continue
            if i == 0 and method.max_pairs is None:
                method.run(content, style)  # warm-up: engines are built on first use
            t = time.perf_counter()
            out = method.run(content, style)  # a tensor in, a tensor out, in [0, 1]
            seconds = time.perf_counter() - t
            lc, ls = judge.measure(out, content, style)
            rec = per_pair[method.name]
            rec["pair"].append(i)
            rec["seconds"].append(seconds)
            rec["content_loss"].append(lc)
            rec["style_loss"].append(ls)
            rec["content_distance"].append(judge.content_distance(out, content, layer="relu4_1"))
            rec["gram_loss"].append(sum(judge.gram_distances(out, style, GRAM_LAYERS).values()))
            if i < args.sheet_pairs:
                row.append(_thumb(out))
        if i < args.sheet_pairs:
            sheet_rows.append(row)
    seconds = time.perf_counter() - t0
    chosen_styles = sorted({s.name for _, s in pairs})
    result = {
        "size": args.size,
        "pairs": len(pairs),
        "contents": sorted({c.name for c, _ in pairs}),
        "styles": chosen_styles,
        "pair_list": [[c.name, s.name] for c, s in pairs],
        "alpha": 1.0,
        "dtype": dtype_name(dtype),
        "judge": judge.name,
        "content_distance_layer": "relu4_1",
        "baseline": args.baseline,
        "decoders": decoders,
        "methods": {m.name: {"what": m.what, **m.info} for m in methods},
        "summary": summarise(per_pair, args.baseline),
        "per_pair": per_pair,
        "seconds": round(seconds, 1),
        "machine": machine_info(),
        "torch": torch.__version__,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2))
    (out_dir / "quality.md").write_text(markdown(result))
    if sheet_rows:
        labels = ["content", "style", *(m.name for m in methods)]
        save_image(_sheet(sheet_rows, labels), out_dir / "contact_sheet.jpg", quality=90)
    return result


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None or math.isnan(x) else format(x, fmt)


def markdown(result: dict[str, Any]) -> str:
    """Markdown table of the mean measures per method and their ratios to the baseline."""
    machine = result.get("machine", {})
    base = result.get("baseline")
    lines = [
        f"Eval pairs: {result['pairs']} ({len(result.get('contents', []))} contents x "
        f"{len(result.get('styles', []))} styles) at {result['size']} px, alpha=1, stylised in "
        f"{result.get('dtype', 'float32')} through the public `stylize`; "
        f"measured with {result.get('judge', 'cd16x e5')}: "
        "style loss (relu1_1..relu4_1 mean/std), Gram loss (relu1_1..relu5_1 Gram matrices, Gatys et al.'s), "
        "content loss (AdaIN target, relu4_1), content distance "
        f"(MSE to the content's own {result.get('content_distance_layer', 'relu4_1')} features). "
        f'Lower is better; "x {base}" is the ratio to {base}\'s mean over the same pairs.',
        "",
        f"Machine: {machine.get('cpu', '?')}, {machine.get('torch_threads', '?')} torch threads, "
        f"torch {machine.get('torch', result.get('torch', '?'))}; {result.get('seconds', '?')} s in all.",
        "",
        f"| method | style loss | x {base} | Gram loss | x {base} | content loss | x {base} | content distance "
        f"| x {base} | s / image | pairs | what |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    methods = result.get("methods", {})
    for name, s in result["summary"].items():
        cells = [f"**{name}**" if name == base else name]
        for m in MEASURES:
            cells += [_num(s.get(f"{m}_mean"), ".4g"), _num(s.get(f"{m}_ratio"), ".2f")]
        cells += [_num(s.get("seconds_per_image"), ".3f"), str(s["pairs"]), methods.get(name, {}).get("what", "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--decoder",
        action="append",
        default=[],
        help="NAME=PATH of a relu4_1 decoder for cd16x e4 (repeatable; d4 from the shared folder is added)",
    )
    p.add_argument(
        "--no-d4",
        dest="default_d4",
        action="store_false",
        help="do not add d4=$ADAIN_NST_TEST_DATA/weights/cd16x/d4.pth",
    )
    p.add_argument(
        "--family-transforms",
        default="adain,wct,efdm",
        help="transforms to run on the bundled cd16x family, comma-separated ('' for none)",
    )
    p.add_argument(
        "--level-sets",
        default="54321,4321,4",
        help="family level sets, comma-separated, each the relu*_1 digits coarse to fine (default 54321,4321,4)",
    )
    p.add_argument(
        "--default",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the 'default' row: family.stylize(c, s) with no options (default: on)",
    )
    p.add_argument("--baseline", default="d4", help="method the ratios are taken to (default d4)")
    p.add_argument("--pairs", type=int, default=44, help="number of eval pairs, see above (default 44; 0: all)")
    p.add_argument("--size", type=int, default=512, help="shorter side of content and style, px (default 512)")
    p.add_argument("--limit-contents", type=int, default=None, help="use only the first N contents")
    p.add_argument("--limit-styles", type=int, default=None, help="use only the first N styles")
    p.add_argument("--gatys-pairs", type=int, default=0, help="also run Gatys et al. on the first N pairs")
    p.add_argument("--gatys-steps", type=int, default=300)
    p.add_argument("--gatys-preset", default="gatys2016", help="gatys2016 (the ImageNet VGG-19, default) or fast (e5)")
    p.add_argument(
        "--judge",
        choices=("e5", "vgg19"),
        default="e5",
        help="the measuring network: cd16x e5 (default) or the bundled ImageNet VGG-19 (content relu4_2, "
        "style relu1_1..relu5_1)",
    )
    p.add_argument("--sheet-pairs", type=int, default=6, help="pairs (rows) in the contact sheet (default 6)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", default=None, help="stylisation precision: float32 (default), bfloat16 or auto")
    p.add_argument("--out", required=True, help="folder for quality.json, quality.md, contact_sheet.jpg")
    result = run(p.parse_args(argv))
    print(markdown(result))


if __name__ == "__main__":
    main()

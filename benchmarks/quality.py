"""Stylisation quality on the AdaIN eval images: content and style loss per decoder.

For every content x style pair of ``$ADAIN_NST_TEST_DATA/data/eval`` (11 x 20 at 512 px by
default) each method stylises the content at alpha=1 through the public pipeline
(``AdaINModel.stylize``, float32 unless ``--dtype``); the output is measured by the quality
judge (``adain_nst.quality.Judge``) on the cd16x **e5** encoder (a different network from the
e4 used for stylising), with the AdaIN paper's definitions (see ``adain_nst.train.losses``):

* content loss: MSE(e5(output), AdaIN(e5(content), e5(style))) at relu4_1;
* style loss: sum over relu1_1..relu4_1 of MSE(channel mean) + MSE(channel std).

Methods: each ``--decoder`` given (ours, d4, checkpoints...) on the cd16x e4 encoder, and
optionally Gatys et al. optimisation on a few pairs (``--gatys-pairs``) as the quality
reference. Writes ``quality.json``, ``quality.md`` and a contact sheet to ``--out``.

    python benchmarks/quality.py --decoder ours=weights/cd16x-adain/decoder.safetensors \
        --decoder d4=$ADAIN_NST_TEST_DATA/weights/cd16x/d4.pth --out out/quality
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from adain_nst import VGGEncoder, gatys, model_from_files
from adain_nst.engine.runtime import dtype_name, resolve_dtype
from adain_nst.image import ImageKind, from_tensor, list_images, resize_shorter, save_image, to_tensor
from adain_nst.quality import Judge

THUMB = 160


def _shared() -> Path:
    root = os.environ.get("ADAIN_NST_TEST_DATA")
    if not root:
        sys.exit("set ADAIN_NST_TEST_DATA to the shared data folder (e.g. ../shared)")
    return Path(root)


def _thumb(x: torch.Tensor) -> Image.Image:
    im = from_tensor(x, ImageKind("pil"))
    im.thumbnail((THUMB, THUMB))
    canvas = Image.new("RGB", (THUMB, THUMB), "white")
    canvas.paste(im, ((THUMB - im.width) // 2, (THUMB - im.height) // 2))
    return canvas


def run(args: argparse.Namespace) -> dict[str, Any]:
    shared = _shared()
    cd16x = shared / "weights" / "cd16x"
    torch.set_num_threads(args.threads or torch.get_num_threads())
    e5 = VGGEncoder.from_cd16x_checkpoint(cd16x / "e5.pth")  # to relu5_1: Gatys uses it whole
    judge = Judge(e5, name="cd16x e5")
    dtype = resolve_dtype(args.dtype, torch.device("cpu"))
    models = {}
    for spec in args.decoder:
        name, _, path = spec.partition("=")
        models[name] = model_from_files(cd16x / "e4.pth", path)
    contents = list_images(shared / "data" / "eval" / "content")[: args.limit_contents]
    styles = list_images(shared / "data" / "eval" / "style")[: args.limit_styles]
    # Decode and resize each picture once: the eval photos are up to 1320 px and JPEG decoding
    # would otherwise dominate the run.
    images = {p: resize_shorter(to_tensor(p)[0], args.size) for p in [*contents, *styles]}
    pairs = [(c, s) for c in contents for s in styles]
    losses: dict[str, dict[str, list[float]]] = {m: {"content": [], "style": []} for m in models}
    sheet_rows: list[list[Image.Image]] = []
    t0 = time.perf_counter()
    gatys_done = 0
    for i, (c_path, s_path) in enumerate(tqdm(pairs, desc="quality", unit="pair")):
        content, style = images[c_path], images[s_path]
        row = [_thumb(content), _thumb(style)]
        for name, model in models.items():
            out = model.stylize(content, style, alpha=1.0, dtype=dtype)  # a tensor in, a tensor out, in [0, 1]
            lc, ls = judge.measure(out, content, style)
            losses[name]["content"].append(lc)
            losses[name]["style"].append(ls)
            row.append(_thumb(out))
        if gatys_done < args.gatys_pairs:
            out = gatys(content, style, encoder=e5, steps=args.gatys_steps, progress=False)
            lc, ls = judge.measure(out, content, style)
            losses.setdefault("gatys", {"content": [], "style": []})
            losses["gatys"]["content"].append(lc)
            losses["gatys"]["style"].append(ls)
            gatys_done += 1
        if i < args.sheet_pairs:
            sheet_rows.append(row)
    seconds = time.perf_counter() - t0
    summary = {
        name: {
            "pairs": len(v["content"]),
            "content_loss_mean": statistics.fmean(v["content"]),
            "style_loss_mean": statistics.fmean(v["style"]),
        }
        for name, v in losses.items()
    }
    result = {
        "size": args.size,
        "pairs": len(pairs),
        "decoders": dict(spec.partition("=")[::2] for spec in args.decoder),
        "dtype": dtype_name(dtype),
        "judge": judge.name,
        "summary": summary,
        "seconds": round(seconds, 1),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "torch": torch.__version__,
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.json").write_text(json.dumps(result, indent=2))
    (out_dir / "quality.md").write_text(markdown(result))
    if sheet_rows:
        cols = max(len(r) for r in sheet_rows)
        sheet = Image.new("RGB", (cols * THUMB, len(sheet_rows) * THUMB), "white")
        for y, row in enumerate(sheet_rows):
            for x, im in enumerate(row):
                sheet.paste(im, (x * THUMB, y * THUMB))
        save_image(sheet, out_dir / "contact_sheet.jpg", quality=90)
    return result


def markdown(result: dict[str, Any]) -> str:
    """Markdown table of mean losses per method."""
    lines = [
        f"Eval pairs: {result['pairs']} at {result['size']} px, alpha=1, stylised in {result.get('dtype', 'float32')}, "
        f"measured with {result.get('judge', 'cd16x e5')}.",
        "",
        "| method | pairs | content loss (mean) | style loss (mean) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, s in result["summary"].items():
        lines.append(f"| {name} | {s['pairs']} | {s['content_loss_mean']:.4f} | {s['style_loss_mean']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decoder", action="append", required=True, help="NAME=PATH of a relu4_1 decoder for cd16x e4")
    p.add_argument("--size", type=int, default=512, help="shorter side of content and style, px")
    p.add_argument("--limit-contents", type=int, default=None)
    p.add_argument("--limit-styles", type=int, default=None)
    p.add_argument("--gatys-pairs", type=int, default=0, help="also run Gatys (e5) on the first N pairs")
    p.add_argument("--gatys-steps", type=int, default=300)
    p.add_argument("--sheet-pairs", type=int, default=12, help="pairs shown in the contact sheet")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", default=None, help="stylisation precision: float32 (default), bfloat16 or auto")
    p.add_argument("--out", required=True, help="folder for quality.json, quality.md, contact_sheet.jpg")
    result = run(p.parse_args(argv))
    print(markdown(result))


if __name__ == "__main__":
    main()

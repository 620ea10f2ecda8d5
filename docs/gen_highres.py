"""Regenerate the high-resolution picture of docs/highres.md (docs/images/highres_crop.jpg).

    python docs/gen_highres.py [--scale 7] [--budget 1GB]

Made only from a bundled sample (``adain_nst.samples``: public domain / CC0): the coffee photo
(600 x 400) upscaled ``--scale`` times (bicubic; 4200 x 2800 = 11.8 MP by default) and stylised
with the bundled Van Gogh at its own size by the default look, tiled under ``--budget``. Left:
the whole result, reduced, with the cores of the deepest level's tiles drawn in and the crop
marked; right: that crop at 100 %, taken where four tiles meet (no seam shows).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import adain_nst
from adain_nst import pipeline, samples

OUT = Path(__file__).with_name("images")
CROP = 400  # px of the 100 % crop
THUMB = 560  # px width of the reduced whole


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=7, help="upscaling of the 600 x 400 sample")
    parser.add_argument("--budget", default="1GB", help="max_memory of the call")
    args = parser.parse_args(argv)
    photo = Image.open(samples.path("coffee")).convert("RGB")
    big = photo.resize((photo.width * args.scale, photo.height * args.scale), Image.Resampling.BICUBIC)
    model = adain_nst.load_model()
    plan = pipeline.plan_tiling(model.cascade(), big.height, big.width, torch.device("cpu"), max_memory=args.budget)
    assert plan is not None, "the budget holds the whole image: pass a smaller --budget"
    t = time.perf_counter()
    style = samples.path("van_gogh_wheat_field_with_cypresses")
    out = adain_nst.stylize(big, style, model=model, max_memory=args.budget)
    print(f"{big.width}x{big.height} in {time.perf_counter() - t:.0f} s: {plan.describe()}")
    # the crop: centred where four cores of the deepest level meet, on the saucer's rim and the table
    tiles = plan.tiles(0)
    corner = min(
        ((t.core.y0, t.core.x0) for t in tiles if t.core.y0 and t.core.x0),
        key=lambda p: abs(p[0] - 0.62 * big.height) + abs(p[1] - 0.75 * big.width),
    )
    top, left = corner[0] - CROP // 2, corner[1] - CROP // 2
    crop = out.crop((left, top, left + CROP, top + CROP))
    factor = THUMB / out.width
    thumb = out.resize((THUMB, round(out.height * factor)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(thumb)
    for tile in tiles:
        c = tile.core.clip(out.height, out.width)
        draw.rectangle(
            (c.x0 * factor, c.y0 * factor, c.x1 * factor - 1, c.y1 * factor - 1), outline=(255, 255, 255), width=1
        )
    draw.rectangle(
        (left * factor, top * factor, (left + CROP) * factor, (top + CROP) * factor), outline=(255, 40, 40), width=3
    )
    gap = 8
    sheet = Image.new("RGB", (THUMB + gap + CROP, max(thumb.height, CROP)), (255, 255, 255))
    sheet.paste(thumb, (0, (sheet.height - thumb.height) // 2))
    sheet.paste(crop, (THUMB + gap, (sheet.height - CROP) // 2))
    OUT.mkdir(exist_ok=True)
    sheet.save(OUT / "highres_crop.jpg", quality=88)
    print(f"wrote {OUT / 'highres_crop.jpg'}")


if __name__ == "__main__":
    main()

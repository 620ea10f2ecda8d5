"""Regenerate the README gallery (docs/images/*.jpg) from the bundled samples and the default model.

    python docs/gen_gallery.py [--model NAME] [--size 256]

Every picture is made from the public-domain / CC0 images of ``adain_nst.samples`` and our own
outputs of them, with the bundled model, at ``--size`` px (shorter side), float32.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

import adain_nst
from adain_nst import samples
from adain_nst.image import load_image

LEVELS = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")

OUT = Path(__file__).with_name("images")
PAD = 4


def _fit(im: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square of ``size`` px (tiles line up in a grid)."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def _label(im: Image.Image, text: str) -> Image.Image:
    im = im.copy()
    draw = ImageDraw.Draw(im)
    w = int(draw.textlength(text)) + 8
    draw.rectangle((0, im.height - 16, w, im.height), fill=(255, 255, 255))
    draw.text((4, im.height - 14), text, fill=(0, 0, 0))
    return im


def _painter(style: str) -> str:
    """``van_gogh_wheat_field_with_cypresses`` -> ``van gogh``, ``monet_etretat`` -> ``monet``."""
    words = style.split("_")
    return " ".join(words[:2]) if words[0] == "van" else words[0]


def _grid(rows: list[list[Image.Image]]) -> Image.Image:
    tile = rows[0][0].width
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (cols * (tile + PAD) - PAD, len(rows) * (tile + PAD) - PAD), (255, 255, 255))
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            sheet.paste(im, (x * (tile + PAD), y * (tile + PAD)))
    return sheet


def render(model: adain_nst.MultiLevelModel, size: int, tile: int) -> dict[str, Image.Image]:
    """The gallery pictures by file stem."""
    contents, styles = samples.names("content"), samples.names("style")

    def run(content: str, style: str | list[str], **kw: Any) -> Image.Image:
        paths = [str(samples.path(s)) for s in ([style] if isinstance(style, str) else style)]
        out = model.stylize(str(samples.path(content)), paths, content_size=size, style_size=size, **kw)
        return _fit(out, tile)

    header = [Image.new("RGB", (tile, tile), (255, 255, 255))]
    header += [_label(_fit(load_image(samples.path(s)), tile), _painter(s)) for s in styles]
    rows = [header]
    for c in contents:
        rows.append([_label(_fit(load_image(samples.path(c)), tile), c)] + [run(c, s) for s in styles])
    pictures = {"gallery": _grid(rows)}

    c, s = "chelsea", "van_gogh_wheat_field_with_cypresses"
    pictures["alpha"] = _grid([[_label(run(c, s, alpha=a), f"alpha {a}") for a in (0.0, 0.25, 0.5, 0.75, 1.0)]])
    pair = ["kandinsky_composition_vii", "monet_etretat"]
    mixes = [(1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 1.0)]
    pictures["interpolation"] = _grid(
        [[_label(run("astronaut", pair, style_weights=list(w)), f"{w[0]:g} / {w[1]:g}") for w in mixes]]
    )
    colour = [_label(_fit(load_image(samples.path("coffee")), tile), "photo")]
    colour += [_label(run("coffee", "kandinsky_composition_vii", preserve_color=m), m or "style colours")
               for m in (None, "coral", "luminance")]  # fmt: skip
    pictures["colour"] = _grid([colour])

    # The transforms and level sets, with the single-level paper path for comparison.
    variants = [
        ("single pass", {"levels": ["relu4_1"], "transform": "adain"}),
        ("adain 4-3-2-1", {"transform": "adain", "levels": ["relu4_1", "relu3_1", "relu2_1", "relu1_1"]}),
        ("adain 5-4-3-2-1 (default)", {"transform": "adain", "levels": list(LEVELS)}),
        ("wct 5-4-3-2-1", {"transform": "wct", "levels": list(LEVELS)}),
        ("efdm 5-4-3-2-1", {"transform": "efdm", "levels": list(LEVELS)}),
    ]
    rows = []
    for c, s in (("astronaut", "kandinsky_composition_vii"), ("coffee", "van_gogh_wheat_field_with_cypresses")):
        rows.append([_label(_fit(load_image(samples.path(s)), tile), _painter(s))]
                    + [_label(run(c, s, **kw), label) for label, kw in variants])  # fmt: skip
    pictures["transforms"] = _grid(rows)
    return pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="registered model (default: the library default)")
    parser.add_argument("--size", type=int, default=256, help="shorter side of contents and styles, px")
    parser.add_argument("--tile", type=int, default=180, help="tile side in the pictures, px")
    args = parser.parse_args()
    model = adain_nst.load_model(args.model)
    OUT.mkdir(exist_ok=True)
    for name, picture in render(model, args.size, args.tile).items():
        path = OUT / f"{name}.jpg"
        adain_nst.save_image(picture, path, quality=85, optimize=True)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()

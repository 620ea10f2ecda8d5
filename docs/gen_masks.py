"""Regenerate the spatial-control pictures of docs/masks.md (docs/images/masks_*.jpg).

    python docs/gen_masks.py [--size 384] [--tile 120]     (both pictures under 512 px wide)

Made only from the bundled samples (``adain_nst.samples``: public domain / CC0) and masks drawn
here, with the bundled default model, float32. Two pictures:

* ``masks_two_styles.jpg``: the AdaIN paper's spatial-control figure done our way: a soft
  elliptical mask on the astronaut, one painting inside it and another outside;
* ``masks_three_regions.jpg``: a three-colour label map drawn on the coffee photo, one painting
  per region, at full strength and with ``region_alpha`` and a region that keeps the photo.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

import adain_nst
from adain_nst import samples
from adain_nst.image import load_image
from adain_nst.masks import masks_from_labels

OUT = Path(__file__).with_name("images")
PAD = 4
WHITE = (255, 255, 255)


def ellipse_mask(width: int, height: int, box: tuple[float, float, float, float], blur: float) -> Image.Image:
    """A soft ellipse: white inside ``box`` (fractions of the size: left, top, right, bottom), blurred edge."""
    mask = Image.new("L", (width, height), 0)
    left, top, right, bottom = box
    ImageDraw.Draw(mask).ellipse((left * width, top * height, right * width, bottom * height), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(blur))


def label_map(width: int, height: int) -> Image.Image:
    """Three flat colours: red top band (the wall), blue ellipse (the cup), green for the rest (the table)."""
    im = Image.new("RGB", (width, height), (0, 160, 0))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, width, int(0.3 * height)), fill=(200, 0, 0))
    draw.ellipse((0.18 * width, 0.12 * height, 0.82 * width, 0.95 * height), fill=(0, 0, 200))
    return im


def _fit(im: Image.Image, width: int, height: int | None = None) -> Image.Image:
    """Centre-crop to ``width:height`` (square by default), then resize."""
    height = height or width
    scale = max(width / im.width, height / im.height)
    resized = im.resize(
        (max(width, round(im.width * scale)), max(height, round(im.height * scale))), Image.Resampling.LANCZOS
    )
    left, top = (resized.width - width) // 2, (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _label(im: Image.Image, text: str) -> Image.Image:
    im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, im.height - 16, int(draw.textlength(text)) + 8, im.height), fill=WHITE)
    draw.text((4, im.height - 14), text, fill=(0, 0, 0))
    return im


def _sheet(width: int, height: int, tiles: list[tuple[Image.Image, tuple[int, int]]]) -> Image.Image:
    sheet = Image.new("RGB", (width, height), WHITE)
    for im, at in tiles:
        sheet.paste(im, at)
    return sheet


def two_styles(model: adain_nst.MultiLevelModel, size: int, tile: int) -> Image.Image:
    """Content, mask, inside and outside styles on the left; the result, twice as large, on the right."""
    photo = load_image(samples.path("astronaut")).resize((size, size), Image.Resampling.LANCZOS)
    mask = ellipse_mask(size, size, (0.12, 0.08, 0.78, 1.25), blur=size / 40)
    inside, outside = "van_gogh_wheat_field_with_cypresses", "kandinsky_composition_vii"
    out = model.stylize(
        photo,
        [str(samples.path(inside)), str(samples.path(outside))],
        masks=[mask, Image.eval(mask, lambda v: 255 - v)],
        style_size=size,
    )
    big = 2 * tile + PAD
    tiles = [
        (_label(_fit(photo, tile), "content"), (0, 0)),
        (_label(_fit(mask, tile), "mask"), (0, tile + PAD)),
        (_label(_fit(load_image(samples.path(inside)), tile), "inside"), (tile + PAD, 0)),
        (_label(_fit(load_image(samples.path(outside)), tile), "outside"), (tile + PAD, tile + PAD)),
        (out.resize((big, big), Image.Resampling.LANCZOS), (2 * (tile + PAD), 0)),
    ]
    return _sheet(2 * (tile + PAD) + big, big, tiles)


def three_regions(model: adain_nst.MultiLevelModel, size: int, tile: int) -> Image.Image:
    """Top: content, label map and the three paintings; bottom: every region styled, and with region_alpha."""
    photo = load_image(samples.path("coffee"))
    photo = photo.resize((round(photo.width * size / photo.height), size), Image.Resampling.LANCZOS)
    labels = label_map(*photo.size)
    # label order: #0000c8 (cup), #00a000 (table), #c80000 (wall)
    masks, _ = masks_from_labels(labels, [(0, 0, 200), (0, 160, 0), (200, 0, 0)])
    styles = ["monet_etretat", "van_gogh_wheat_field_with_cypresses", "kandinsky_composition_vii"]
    paths = [str(samples.path(s)) for s in styles]
    full = model.stylize(photo, paths, masks=masks, style_size=size)
    mixed = model.stylize(photo, [paths[0], None, paths[2]], masks=masks, region_alpha=[1.0, 1.0, 0.5], style_size=size)
    wide = (5 * tile + 4 * PAD - PAD) // 2
    high = round(wide * photo.height / photo.width)
    top = [
        _label(_fit(photo, tile), "content"),
        _label(_fit(labels, tile), "label map"),
        _label(_fit(load_image(samples.path(styles[0])), tile), "cup"),
        _label(_fit(load_image(samples.path(styles[1])), tile), "table"),
        _label(_fit(load_image(samples.path(styles[2])), tile), "wall"),
    ]
    tiles = [(im, (i * (tile + PAD), 0)) for i, im in enumerate(top)]
    tiles.append((_label(full.resize((wide, high), Image.Resampling.LANCZOS), "three styles"), (0, tile + PAD)))
    tiles.append(
        (
            _label(mixed.resize((wide, high), Image.Resampling.LANCZOS), "table kept, wall at 0.5"),
            (wide + PAD, tile + PAD),
        )
    )
    return _sheet(5 * tile + 4 * PAD, tile + PAD + high, tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384, help="shorter side the photos are stylised at, px")
    parser.add_argument("--tile", type=int, default=120, help="side of the small tiles, px")
    args = parser.parse_args()
    model = adain_nst.load_model()
    OUT.mkdir(exist_ok=True)
    pictures = {"masks_two_styles": two_styles(model, args.size, args.tile)}
    pictures["masks_three_regions"] = three_regions(model, args.size, args.tile * 4 // 5)  # five tiles a row
    for name, picture in pictures.items():
        path = OUT / f"{name}.jpg"
        adain_nst.save_image(picture, path, quality=85, optimize=True)
        print(f"wrote {path} {picture.size} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()

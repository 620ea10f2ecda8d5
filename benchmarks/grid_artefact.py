"""How much fine periodic grid (the "vertical grid" artefact) single-pass decoders put into their outputs.

    ADAIN_NST_TEST_DATA=../shared python benchmarks/grid_artefact.py \
        --decoder d4=../shared/weights/cd16x/d4.pth --decoder old=old_decoder.safetensors ...

A grid that repeats every 2, 4 or 8 px is energy of the image's 2-D spectrum on the horizontal
(vertical lines) and vertical (horizontal lines) frequency axes at ``N/2``, ``N/4``, ``N/8``
(and their multiples). Natural images, and paintings, have little there; a decoder that learnt
to please its loss network with a pattern at the network's strides has a lot. The score is that
energy as a share of the image's total (DC removed), over the eval pairs, for each decoder on
the cd16x e4 encoder, next to the content photos' own share.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import torch

import adain_nst
from adain_nst import AdaINModel
from adain_nst.bench.measure import machine_info
from adain_nst.image import list_images, to_tensor


def grid_share(image: torch.Tensor) -> float:
    """Share of the spectral energy of ``(B, 3, H, W)`` on the axes at periods 2, 4 and 8 px (luma)."""
    y = image.float().mean(1)  # (B, H, W)
    y = y - y.mean(dim=(-2, -1), keepdim=True)
    p = torch.fft.fft2(y).abs() ** 2
    h, w = y.shape[-2:]
    total = p.sum()
    cols = {k * w // period for period in (2, 4, 8) for k in range(1, period) if (k * w) % period == 0}
    rows = {k * h // period for period in (2, 4, 8) for k in range(1, period) if (k * h) % period == 0}
    axis = sum(p[..., 0, c].sum() for c in cols) + sum(p[..., r, 0].sum() for r in rows)
    return float(axis / total)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decoder", action="append", default=[], help="NAME=PATH of a relu4_1 decoder (repeatable)")
    p.add_argument("--size", type=int, default=512, help="content and style shorter side, px (multiple of 8 best)")
    p.add_argument("--styles", type=int, default=4, help="first N eval styles, with every eval content")
    p.add_argument("--out", type=Path, default=None, help="write grid.json here")
    args = p.parse_args(argv)
    shared = Path(os.environ.get("ADAIN_NST_TEST_DATA", "../shared"))
    encoder = shared / "weights/cd16x/e4.pth"
    contents = list_images(shared / "data/eval/content")
    styles = list_images(shared / "data/eval/style")[: args.styles]
    crop = args.size - args.size % 8

    def load(path: Path) -> torch.Tensor:
        x, _ = to_tensor(adain_nst.load_image(path), str(path), size=args.size)
        return x[..., :crop, :crop] if min(x.shape[-2:]) >= crop else x

    scores: dict[str, float] = {"content photos": statistics.mean(grid_share(load(c)) for c in contents)}
    for spec in args.decoder:
        name, path = spec.split("=", 1)
        model = AdaINModel.from_checkpoints(str(encoder), path, check_pairing=False)
        values = []
        with torch.inference_mode():
            for c in contents:
                xc = load(c)
                for s in styles:
                    values.append(grid_share(model.stylize(xc, load(s))))
        scores[name] = statistics.mean(values)
    lines = [f"| {name} | {100 * v:.3f} % |" for name, v in scores.items()]
    print("| images | energy at 2/4/8 px periods |\n| --- | ---: |\n" + "\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "grid.json").write_text(json.dumps({"machine": machine_info(), "scores": scores}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

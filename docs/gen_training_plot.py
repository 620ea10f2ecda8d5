"""Draw the loss curves of a training run (``log.jsonl``) as ``docs/images/training_loss.png``.

    python docs/gen_training_plot.py runs/cd16x_vgg/log.jsonl [--out docs/images/training_loss.png]

Two panels, content loss and style loss against the step, each the raw logged values (light)
and their running mean over ``--window`` log lines (dark). Drawn with Pillow so the docs need
no plotting library.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

W, H, PAD = 640, 240, 48


def running_mean(values: Sequence[float], window: int) -> list[float]:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _panel(steps: Sequence[int], values: Sequence[float], title: str, window: int) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1.0
    s0, s1 = steps[0], max(steps[-1], steps[0] + 1)

    def xy(step: float, v: float) -> tuple[float, float]:
        return PAD + (W - 2 * PAD) * (step - s0) / (s1 - s0), H - PAD + (2 * PAD - H) * (v - lo) / (hi - lo)

    draw.rectangle([PAD, PAD, W - PAD, H - PAD], outline="black")
    draw.line([xy(s, v) for s, v in zip(steps, values, strict=True)], fill=(170, 190, 230), width=1)
    draw.line([xy(s, v) for s, v in zip(steps, running_mean(values, window), strict=True)], fill=(20, 60, 160), width=2)
    draw.text((PAD, 16), title, fill="black")
    draw.text((PAD - 4, H - PAD + 6), str(s0), fill="black")
    draw.text((W - PAD - 24, H - PAD + 6), f"{s1} steps", fill="black")
    draw.text((4, PAD - 6), f"{hi:.3g}", fill="black")
    draw.text((4, H - PAD - 6), f"{lo:.3g}", fill="black")
    return img


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", type=Path, help="a run's log.jsonl")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "training_loss.png")
    p.add_argument("--window", type=int, default=20, help="running-mean window, in log lines")
    args = p.parse_args(argv)
    rows = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    panels = [
        _panel(steps, [r["content"] for r in rows], "content loss (the encoder, relu4_1)", args.window),
        _panel(
            steps,
            [r["style"] for r in rows],
            "style loss (mean/std on the loss network, relu1_1..relu4_1)",
            args.window,
        ),
    ]
    sheet = Image.new("RGB", (W, H * len(panels)), "white")
    for i, panel in enumerate(panels):
        sheet.paste(panel, (0, H * i))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({len(rows)} log lines, steps {steps[0]}..{steps[-1]})")


if __name__ == "__main__":
    main()

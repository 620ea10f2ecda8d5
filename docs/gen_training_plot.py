"""Draw the loss curves of a training run (``log.jsonl``) as ``docs/images/training_loss.png``.

    python docs/gen_training_plot.py runs/cd16x_vgg/log.jsonl [LOG ...] [--out docs/images/training_loss.png]

Two panels, content loss and style loss against the step, each the raw logged values (light)
and their running mean over ``--window`` log lines (dark). Several logs are consecutive phases
of one decoder (each started from the previous one's last step): their steps are counted on
from there, each phase has its own colour and a divider, and the style panel shows each
phase's own loss (phases may weigh the style layers differently). Drawn with Pillow so the
docs need no plotting library.
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


COLOURS = (((170, 190, 230), (20, 60, 160)), ((240, 190, 160), (190, 80, 20)), ((170, 215, 170), (30, 120, 40)))
"""(raw, running mean) line colours of phases 1, 2, 3 (then repeating)."""


def _panel(phases: Sequence[tuple[Sequence[int], Sequence[float]]], title: str, window: int) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    values = [v for _, vs in phases for v in vs]
    lo, hi = min(values), max(values)
    hi = hi if hi > lo else lo + 1.0
    s0, last = phases[0][0][0], phases[-1][0][-1]
    s1 = max(last, s0 + 1)

    def xy(step: float, v: float) -> tuple[float, float]:
        return PAD + (W - 2 * PAD) * (step - s0) / (s1 - s0), H - PAD + (2 * PAD - H) * (v - lo) / (hi - lo)

    draw.rectangle([PAD, PAD, W - PAD, H - PAD], outline="black")
    for i, (steps, vs) in enumerate(phases):
        light, dark = COLOURS[i % len(COLOURS)]
        if i:
            x = xy(steps[0], lo)[0]
            draw.line([(x, PAD), (x, H - PAD)], fill=(120, 120, 120), width=1)
            draw.text((x + 3, PAD + 3), f"phase {i + 1}", fill=dark)
        draw.line([xy(s, v) for s, v in zip(steps, vs, strict=True)], fill=light, width=1)
        draw.line([xy(s, v) for s, v in zip(steps, running_mean(vs, window), strict=True)], fill=dark, width=2)
    draw.text((PAD, 16), title, fill="black")
    draw.text((PAD - 4, H - PAD + 6), str(s0), fill="black")
    draw.text((W - PAD - 24, H - PAD + 6), f"{s1} steps", fill="black")
    draw.text((4, PAD - 6), f"{hi:.3g}", fill="black")
    draw.text((4, H - PAD - 6), f"{lo:.3g}", fill="black")
    return img


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("logs", type=Path, nargs="+", help="a run's log.jsonl; more: the phases that followed it")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "images" / "training_loss.png")
    p.add_argument("--window", type=int, default=20, help="running-mean window, in log lines")
    args = p.parse_args(argv)
    phases: list[list[dict[str, float]]] = []
    offset = 0
    for log in args.logs:
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        phases.append([{**r, "step": r["step"] + offset} for r in rows])
        offset = phases[-1][-1]["step"]
    steps = [[int(r["step"]) for r in rows] for rows in phases]
    style = "style loss (mean/std on the loss network, relu1_1..relu4_1"
    style += ", each phase's weights)" if len(phases) > 1 else ")"
    content = "content loss (the encoder, relu4_1)"
    panels = [
        _panel([(s, [r[key] for r in rows]) for s, rows in zip(steps, phases, strict=True)], title, args.window)
        for key, title in (("content", content), ("style", style))
    ]
    rows = [r for p in phases for r in p]
    sheet = Image.new("RGB", (W, H * len(panels)), "white")
    for i, panel in enumerate(panels):
        sheet.paste(panel, (0, H * i))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    print(f"wrote {args.out} ({len(rows)} log lines, steps {steps[0][0]}..{steps[-1][-1]}, {len(phases)} phase(s))")


if __name__ == "__main__":
    main()

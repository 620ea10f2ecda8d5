"""Regenerate docs/images/video_strip.jpg: a pan over a bundled sample, per frame and stabilised.

    python docs/gen_video_strip.py

Rows: the input frames (a virtual camera panning over ``samples/content/astronaut.jpg``), the
default look stylised frame by frame (``stabilize="none"``), and with the default stabilisation
(``"flow"``); columns: frames 0, 2, 4, 6, 8 of a 9-frame clip at 192x128 px, with the Van Gogh
sample. Only the bundled public-domain / CC0 samples and our outputs of them are used. Below each
stylised row, the difference to the previous frame warped along the flow (brighter: more flicker).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import adain_nst
from adain_nst import samples
from adain_nst.image import to_tensor
from adain_nst.video import FrameStylizer, optical_flow, warp
from adain_nst.video.synthetic import camera_frames

OUT = Path(__file__).with_name("images") / "video_strip.jpg"
PAD = 4
LABEL = 16


def _flicker(frames: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Per frame |o_t - warp(o_{t-1})| amplified x4 (frame 0: black)."""
    out = np.zeros_like(frames)
    for t in range(1, len(frames)):
        w = warp(frames[t - 1].astype(np.float32), optical_flow(inputs[t], inputs[t - 1]))
        out[t] = np.clip(np.abs(frames[t] - w) * 4, 0, 255).astype(np.uint8)
    return out


def main() -> None:
    clip = camera_frames(samples.path("astronaut"), size=(192, 128), frames=9, motion="pan", speed=3.0)
    style = to_tensor(samples.path("van_gogh_wheat_field_with_cypresses"), "style", size=256)[0]
    model = adain_nst.load_model()
    rows = [("input: a camera panning right", clip)]
    for mode, title in (("none", "per frame (--stabilize none)"), ("flow", "stabilised (--stabilize flow)")):
        out = FrameStylizer(model, [style], style_weights=[1.0], stabilize=mode)(clip)
        rows += [(title, out), ("  change after motion compensation, x4", _flicker(out, clip))]
    cols = list(range(0, 9, 2))
    h, w = clip.shape[1:3]
    sheet = Image.new("RGB", (PAD + len(cols) * (w + PAD), len(rows) * (h + LABEL + PAD) + PAD), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (title, frames) in enumerate(rows):
        y = PAD + r * (h + LABEL + PAD)
        draw.text((PAD, y), title, fill="black")
        for c, t in enumerate(cols):
            sheet.paste(Image.fromarray(frames[t]), (PAD + c * (w + PAD), y + LABEL))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT, quality=80)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

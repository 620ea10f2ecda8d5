"""Small training data for the trainer tests: picture folders and a He-initialised tiny encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from adain_nst import EncoderConfig, VGGEncoder
from adain_nst.train import TrainConfig

WIDTHS = (4, 8, 8, 8, 8)


def write_images(folder: Path, n: int, seed: int) -> Path:
    """``n`` smooth random PNGs (40 px high, 48 + 8 i px wide) in a new ``folder``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # smooth blobs, not white noise
        img = Image.fromarray(base).resize((48 + 8 * i, 40), Image.BICUBIC)
        img.save(folder / f"{i:02d}.png")
    return folder


def he_encoder(last_layer: str = "relu4_1", seed: int = 0) -> VGGEncoder:
    """Random normalised VGG-19 with :data:`WIDTHS`; He init (the default gives near-constant features)."""
    torch.manual_seed(seed)
    encoder = VGGEncoder(EncoderConfig(widths=WIDTHS, last_layer=last_layer))
    with torch.no_grad():
        for m in encoder.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.zero_()
    return encoder


def save_encoder(encoder: VGGEncoder, path: Path) -> Path:
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(path))
    return path


def make_config(data: dict[str, Path], out: str, **kw: object) -> TrainConfig:
    """A 20-step config on ``data`` (see the ``data`` fixture); ``kw`` overrides options."""
    options = dict(iters=20, batch_size=4, size=40, crop=32, lr=3e-2, style_weight=1.0, checkpoint_every=5, log_every=5)
    options.update(kw)
    return TrainConfig(
        content_dir=str(data["content"]),
        style_dir=str(data["style"]),
        encoder=str(data["encoder"]),
        out=str(data["root"] / out),
        **options,  # type: ignore[arg-type]
    )

"""Convert the cd16x family and our trained decoder into the weights bundled with the package.

    python weights/convert_bundled.py --cd16x ../shared/weights/cd16x --out adain_nst/_weights

Writes ``cd16x/e1..e5.safetensors`` (encoders to relu1_1 .. relu5_1, without the distillation
heads), ``cd16x/d1..d5.safetensors`` (their reconstruction decoders) and
``cd16x/d4-adain.safetensors`` (our AdaIN decoder, ``weights/cd16x-adain/decoder.safetensors``),
in our key layout with the usual metadata, weights stored as float16 (the 1x1 input conv, which
carries the 0..255 scale, stays float32), plus the MIT notice of the cd16x weights. Then it
measures what float16 storage costs: the PSNR of stylised outputs against float32-stored
weights (the bar is 50 dB), and prints the FileRecord lines to paste into the registry.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from adain_nst import AdaINModel, Decoder, VGGEncoder, samples
from adain_nst._io import atomic_write_bytes, sha256_file
from adain_nst.pretrained import formats
from adain_nst.pretrained.folder import decoder_metadata, encoder_metadata, safetensors_bytes

ROOT = Path(__file__).resolve().parents[1]
STORAGE = torch.float16
KEEP_FLOAT32 = ("conv0.",)


def _write(path: Path, sd: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    return atomic_write_bytes(path, safetensors_bytes(sd, meta, dtype=STORAGE, keep_float32=KEEP_FLOAT32))


def convert(cd16x: Path, our_decoder: Path, out: Path) -> list[Path]:
    """Write the bundled files into ``out``; returns their paths."""
    written = []
    for k in range(1, 6):
        config, sd = formats.read_encoder(cd16x / f"e{k}.pth", layout="cd16x")
        written.append(_write(out / "cd16x" / f"e{k}.safetensors", sd, encoder_metadata(config)))
        dconfig, dsd = formats.read_decoder(cd16x / f"d{k}.pth", layout="cd16x")
        written.append(_write(out / "cd16x" / f"d{k}.safetensors", dsd, decoder_metadata(dconfig)))
    dconfig, dsd = formats.read_decoder(our_decoder)
    written.append(_write(out / "cd16x" / "d4-adain.safetensors", dsd, decoder_metadata(dconfig)))
    shutil.copyfile(cd16x / "LICENSE", out / "cd16x" / "LICENSE")
    return written


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def storage_psnr(cd16x: Path, our_decoder: Path, out: Path, size: int = 512) -> dict[str, float]:
    """Worst PSNR (dB) over the sample pairs of outputs with float16- vs float32-stored weights."""
    pairs = [(samples.path(c), samples.path(s)) for c in samples.names("content") for s in samples.names("style")]
    models = {
        f"e{k}/d{k}": (cd16x / f"e{k}.pth", cd16x / f"d{k}.pth", out / "cd16x" / f"e{k}.safetensors",
                       out / "cd16x" / f"d{k}.safetensors")
        for k in range(1, 6)
    }  # fmt: skip
    models["e4/d4-adain"] = (cd16x / "e4.pth", our_decoder, out / "cd16x" / "e4.safetensors",
                             out / "cd16x" / "d4-adain.safetensors")  # fmt: skip
    worst = {}
    for name, (e32, d32, e16, d16) in models.items():
        full = AdaINModel.from_checkpoints(e32, d32)
        half = AdaINModel(VGGEncoder.from_checkpoint(e16), Decoder.from_checkpoint(d16))
        scores = []
        for content, style in pairs:
            a = full.stylize(str(content), str(style), content_size=size, style_size=size)
            b = half.stylize(str(content), str(style), content_size=size, style_size=size)
            ta = torch.from_numpy(np.asarray(a, dtype=np.float32)) / 255
            tb = torch.from_numpy(np.asarray(b, dtype=np.float32)) / 255
            scores.append(psnr(ta, tb))
        worst[name] = min(scores)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cd16x", type=Path, default=ROOT.parent / "shared" / "weights" / "cd16x")
    parser.add_argument("--decoder", type=Path, default=ROOT / "weights" / "cd16x-adain" / "decoder.safetensors")
    parser.add_argument("--out", type=Path, default=ROOT / "adain_nst" / "_weights")
    parser.add_argument("--no-psnr", action="store_true", help="skip the float16-storage measurement")
    args = parser.parse_args(argv)
    for path in convert(args.cd16x, args.decoder, args.out):
        rel = path.relative_to(args.out).as_posix()
        print(f'FileRecord("{rel}", "{sha256_file(path)}", {path.stat().st_size:_}),')
    if not args.no_psnr:
        for name, db in storage_psnr(args.cd16x, args.decoder, args.out).items():
            print(f"float16 storage, {name}: worst PSNR {db:.1f} dB over the sample pairs at 512 px")
    return 0


if __name__ == "__main__":
    sys.exit(main())

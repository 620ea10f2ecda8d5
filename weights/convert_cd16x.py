"""Convert cd16x weights (Collaborative Distillation, Wang et al. 2020) to a save_pretrained folder.

    python weights/convert_cd16x.py --name cd16x-recon --out out/cd16x-recon \\
        --encoder ../shared/weights/cd16x/e4.pth --decoder ../shared/weights/cd16x/d4.pth
    python weights/convert_cd16x.py --name cd16x-adain --out out/cd16x-adain \\
        --encoder ../shared/weights/cd16x/e4.pth --decoder weights/cd16x-adain/decoder.safetensors

The encoder is cut at the decoder's level (relu4_1 for ``d4``); ``--last-layer`` keeps more
of what the encoder file holds. Use the encoder
the decoder was trained with: the cd16x encoders e1..e5 were distilled separately, so e5's
relu4_1 is not e4's (d4 reconstructs e5 features with about 15x the error of e4's).
``--decoder`` takes a cd16x ``d{k}.pth`` or a decoder ``.safetensors`` in our key layout (as
written by training). The output (model folder format 2) is deterministic: the same inputs and
``--library-version`` give the same bytes, so the printed sha256 can be pinned in
adain_nst/pretrained/registry.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import check_source, report

from adain_nst import AdaINModel, Decoder, VGGEncoder
from adain_nst.pretrained.registry import get_spec


def convert(
    encoder: str | Path,
    decoder: str | Path,
    out: str | Path,
    *,
    last_layer: str | None = None,
    library_version: str | None = None,
) -> Path:
    """Build the model from a cd16x encoder and decoder file and save it to ``out``; returns ``out``.

    ``last_layer``: deepest encoder layer kept (default: the decoder's level).
    ``library_version``: the adain_nst version recorded in ``config.json`` (default: this one).
    """
    if last_layer is None:
        model = AdaINModel.from_cd16x_checkpoint(encoder, decoder)
    else:
        enc = VGGEncoder.from_cd16x_checkpoint(encoder, last_layer=last_layer)
        model = AdaINModel(enc, Decoder.from_cd16x_checkpoint(decoder))
    model.save_pretrained(out, library_version=library_version)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", required=True, type=Path, help="cd16x encoder, e.g. e4.pth")
    parser.add_argument("--decoder", required=True, type=Path, help="cd16x d4.pth or our decoder .safetensors")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--last-layer", default=None, help="deepest encoder layer kept (default: the decoder's level)")
    parser.add_argument(
        "--name", default="cd16x-recon", help="registry name to check sources and outputs against, or 'none'"
    )
    parser.add_argument(
        "--library-version", default=None, help="version written to config.json (default: the registry's)"
    )
    args = parser.parse_args(argv)

    spec = None if args.name == "none" else get_spec(args.name)
    # The record lists the encoder's source first, then the decoder's (whatever the files are called here).
    enc_source, dec_source = (s.name for s in spec.sources) if spec else (args.encoder.name, args.decoder.name)
    check_source(args.encoder, spec and spec.name, enc_source)
    check_source(args.decoder, spec and spec.name, dec_source)
    version = args.library_version or (spec.converted_with if spec else None)
    out = convert(args.encoder, args.decoder, args.out, last_layer=args.last_layer, library_version=version)
    return report(out, spec)


if __name__ == "__main__":
    sys.exit(main())

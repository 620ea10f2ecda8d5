"""Average the weights of several decoder snapshots of one training run (SWA, Izmailov et al. 2018).

    python weights/average_decoders.py --out weights/cd16x-adain/decoder.safetensors \\
        runs/cd16x_p3/decoder-step1000.safetensors runs/cd16x_p3/decoder-step1200.safetensors ...

Snapshots of one fine-tuning run stay in one basin, so their mean is a valid decoder; it
averages out the drift of the last few hundred steps (on the eval set a checkpoint's
colour statistics swung by a third between snapshots 200 steps apart). Every input must have
the same keys and shapes (refused otherwise). The output is written atomically in our decoder
layout (loads with ``Decoder.from_checkpoint``); its metadata keeps the first input's
architecture entries and lists the averaged files' ``step`` values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safetensors import safe_open

from adain_nst import Decoder
from adain_nst.train.trainer import export_decoder


def average(paths: list[Path]) -> tuple[Decoder, list[str]]:
    """The decoder whose every weight is the mean (in float64) of ``paths``' weights; their steps."""
    if len(paths) < 2:
        sys.exit("give at least two decoder files to average")
    decoders = [Decoder.from_checkpoint(p) for p in paths]
    states = [d.state_dict() for d in decoders]
    first = states[0]
    for p, sd in zip(paths[1:], states[1:], strict=True):
        if sd.keys() != first.keys() or any(sd[k].shape != first[k].shape for k in first):
            sys.exit(f"{p} is not the same architecture as {paths[0]}")
    mean = {k: (sum(sd[k].double() for sd in states) / len(states)).to(v.dtype) for k, v in first.items()}
    out = decoders[0]
    out.load_state_dict(mean)
    steps = []
    for p in paths:
        with safe_open(str(p), "pt") as f:
            steps.append((f.metadata() or {}).get("step", p.name))
    return out, steps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", type=Path, help="decoder .safetensors snapshots of one run")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    decoder, steps = average(args.inputs)
    export_decoder(decoder, args.out, {"averaged_steps": ",".join(steps)})
    print(f"{args.out}: mean of {len(steps)} snapshots (steps {', '.join(steps)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

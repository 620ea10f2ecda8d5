#!/usr/bin/env bash
# Our cd16x AdaIN decoder: fine-tune the reconstruction decoder d4 with the paper's recipe.
cd "$(dirname "$0")/.."
exec adain-nst train --content-dir ../shared/data/train/content --style-dir ../shared/data/train/style \
  --encoder ../shared/weights/cd16x/e4.pth --init-decoder ../shared/weights/cd16x/d4.pth \
  --out runs/cd16x_sw10 --iters 5000 --style-weight 10 --checkpoint-every 25 --seed 0 --resume

#!/usr/bin/env bash
# Our cd16x AdaIN decoder (the bundled cd16x-adain): fine-tune the cd16x reconstruction decoder d4
# on the cd16x e4 encoder, with the style loss measured by the bundled ImageNet VGG-19
# (mean/std at relu1_1..relu4_1, style weight 2e-3 for its 0..255-scale features) and the content
# loss by e4 itself; Adam lr 1e-4 with inverse decay, batch 8, 192 px crops of 512 px images,
# bfloat16 autocast (a CPU with native bf16 or a CUDA GPU; the checkpoint pins it). Chosen from
# pilot runs judged on ../shared/data/eval (docs/training.md). Rerun the same command to resume;
# raise --iters to extend.
cd "$(dirname "$0")/.."
# runs/ is not kept between machines: resume from the committed checkpoint (decoder, optimiser,
# step, RNG) when the run folder is gone. Commit runs/cd16x_vgg/checkpoint.pt and log.jsonl back
# into weights/cd16x-adain/ after a session of training.
if [ ! -f runs/cd16x_vgg/checkpoint.pt ] && [ -f weights/cd16x-adain/checkpoint.pt ]; then
  mkdir -p runs/cd16x_vgg
  cp weights/cd16x-adain/checkpoint.pt weights/cd16x-adain/log.jsonl runs/cd16x_vgg/
fi
exec adain-nst train --content-dir ../shared/data/train/content --style-dir ../shared/data/train/style \
  --encoder ../shared/weights/cd16x/e4.pth --init-decoder ../shared/weights/cd16x/d4.pth \
  --loss-encoder vgg19-imagenet --style-weight 2e-3 --lr 1e-4 --batch-size 8 --crop 192 --dtype bfloat16 \
  --out runs/cd16x_vgg --iters "${ITERS:-20000}" --checkpoint-every 50 --seed 0 --resume "$@"

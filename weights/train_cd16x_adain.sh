#!/usr/bin/env bash
# Phase 1 of our cd16x AdaIN decoder (the bundled cd16x-adain): fine-tune the cd16x reconstruction
# decoder d4 on the cd16x e4 encoder, with the style loss measured by the bundled ImageNet VGG-19
# (mean/std at relu1_1..relu4_1, style weight 2e-3 for its 0..255-scale features) and the content
# loss by e4 itself; Adam lr 1e-4 with inverse decay, batch 8, 192 px crops of 512 px images,
# bfloat16 autocast (a CPU with native bf16 or a CUDA GPU; the checkpoint pins it). Chosen from
# pilot runs judged on ../shared/data/eval (docs/training.md). Rerun the same command to resume;
# raise --iters to extend. Phase 1 stopped at step 5,150 (the committed checkpoint); phases 2
# and 3 (train_cd16x_adain_phase2.sh, _phase3.sh) continue from there.
cd "$(dirname "$0")/.."
. weights/_cd16x_adain_phases.sh
restore runs/cd16x_vgg ""
exec adain-nst train "${COMMON[@]}" --init-decoder ../shared/weights/cd16x/d4.pth --lr 1e-4 \
  --out runs/cd16x_vgg --iters "${ITERS:-20000}" --seed 0 --resume "$@"

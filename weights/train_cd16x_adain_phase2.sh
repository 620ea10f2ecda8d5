#!/usr/bin/env bash
# Phase 2 of the bundled cd16x-adain decoder: phase 1 (train_cd16x_adain.sh) stopped at step 5,150,
# then the same recipe with the style loss weighed per layer (relu1_1..relu4_1: 100, 10, 3, 1).
# On the VGG-19's 0..255 features the plain sum is ~90 % relu4_1, so phase 1 matched the
# painting's deep statistics but let the colours (relu1_1) drift; see docs/training.md.
# A new run (seed 1: other crops than phase 1's first steps) from phase 1's decoder; rerun to
# resume, raise ITERS to extend. Phase 2 stopped at step 1,400.
cd "$(dirname "$0")/.."
. weights/_cd16x_adain_phases.sh
decoder_at weights/train_cd16x_adain.sh 5150 runs/cd16x_vgg
restore runs/cd16x_lw "-phase2"
exec adain-nst train "${COMMON[@]}" --init-decoder runs/cd16x_vgg/decoder-step5150.safetensors \
  --style-layer-weights 100,10,3,1 --lr 1e-4 --out runs/cd16x_lw --iters "${ITERS:-20000}" --seed 1 --resume "$@"

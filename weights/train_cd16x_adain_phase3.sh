#!/usr/bin/env bash
# Phase 3 of the bundled cd16x-adain decoder: from phase 2 (train_cd16x_adain_phase2.sh) at step
# 1,400, three times the weight on the relu1_1 and relu2_1 style terms (300, 30, 3, 1) and half
# the learning rate. Judged on the eval set, phase 2 moved towards the style on the e5 judge
# (0.72x -> ~0.58x of d4) but its relu1_1/relu2_1 terms (colour and contrast) swung by a third
# between checkpoints 200 steps apart (docs/training.md). A new run (seed 2); rerun to resume.
# The bundled decoder is the mean of this phase's snapshots at steps 3,000..5,000:
#   python weights/average_decoders.py --out weights/cd16x-adain/decoder.safetensors \
#     runs/cd16x_p3/decoder-step{3000,3200,3400,3600,3800,4000,4200,4400,4600,4800,5000}.safetensors
cd "$(dirname "$0")/.."
. weights/_cd16x_adain_phases.sh
decoder_at weights/train_cd16x_adain_phase2.sh 1400 runs/cd16x_lw
restore runs/cd16x_p3 "-phase3"
exec adain-nst train "${COMMON[@]}" --init-decoder runs/cd16x_lw/decoder-step1400.safetensors \
  --style-layer-weights 300,30,3,1 --lr 5e-5 --out runs/cd16x_p3 --iters "${ITERS:-20000}" \
  --snapshot-every 200 --seed 2 --resume "$@"

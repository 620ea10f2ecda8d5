# Sourced by the cd16x-adain training phases (weights/train_cd16x_adain*.sh): what they share.
# runs/ is not kept between machines; the committed checkpoints in weights/cd16x-adain/ are.

# The options every phase keeps (docs/training.md): data, encoders, loss scale, batch, precision.
COMMON=(--content-dir ../shared/data/train/content --style-dir ../shared/data/train/style
  --encoder ../shared/weights/cd16x/e4.pth --loss-encoder vgg19-imagenet --style-weight 2e-3
  --batch-size 8 --crop 192 --dtype bfloat16 --checkpoint-every 50)

# restore RUN_DIR SUFFIX: put a phase's committed checkpoint and log back when RUN_DIR is gone.
restore() {
  if [ ! -f "$1/checkpoint.pt" ] && [ -f "weights/cd16x-adain/checkpoint$2.pt" ]; then
    mkdir -p "$1"
    cp "weights/cd16x-adain/checkpoint$2.pt" "$1/checkpoint.pt"
    cp "weights/cd16x-adain/log$2.jsonl" "$1/log.jsonl"
  fi
}

# decoder_at SCRIPT STEP RUN_DIR: run an earlier phase to STEP (resuming it) and keep its decoder.
decoder_at() {
  if [ ! -f "$3/decoder-step$2.safetensors" ]; then
    ITERS="$2" "$1"
    cp "$3/decoder.safetensors" "$3/decoder-step$2.safetensors"
  fi
}

#!/usr/bin/env bash
# The CUDA measurements issues 11 and 17 ask for, as one run on a lent GPU machine (~5 min).
#
# Here:   python tools/gpu_data.py            # 200 photos + 40 paintings into .gpu-data/ (ignored)
# Then the device tool's run: command "bash benchmarks/gpu_checks.sh", carry [".gpu-data"],
# timeout_s 540. It uses the machine's own python3 and torch (nothing can be installed there)
# with this checkout on PYTHONPATH, and writes to $OUT (which comes back):
#   multilevel-cuda.json   benchmarks/multilevel_speed.py --device cuda (512^2, float32)
#   dataset-bf16/          benchmarks/dataset.py --device cuda --dtype auto (bf16 on every side)
#   dataset-fp32/          the same in float32
#   log.txt                everything printed
# A smoke test on a CPU machine: DEVICE=cpu SMOKE=1 bash benchmarks/gpu_checks.sh (tiny sizes).
set -euo pipefail
DEVICE=${DEVICE:-cuda}
ML=() DS=()
if [ -n "${SMOKE:-}" ]; then ML=(--size 64) DS=(--contents 6 --styles 3 --sizes 64); fi
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ADAIN_NST_TEST_DATA="$PWD/.gpu-data"
test -d .gpu-data/data/train/content || { echo "no .gpu-data: run tools/gpu_data.py and carry .gpu-data" >&2; exit 2; }
{
  if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; fi
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))"
  python3 benchmarks/multilevel_speed.py --device "$DEVICE" "${ML[@]}" --json "$OUT/multilevel-$DEVICE.json"
  python3 benchmarks/dataset.py --device "$DEVICE" --dtype auto --skip-checks --workers 4 "${DS[@]}" \
    --out "$OUT/dataset-bf16"
  python3 benchmarks/dataset.py --device "$DEVICE" --skip-checks --workers 4 "${DS[@]}" --out "$OUT/dataset-fp32"
} 2>&1 | tee "$OUT/log.txt"

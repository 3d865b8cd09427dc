#!/usr/bin/env bash
# One prepared check of the GPU paths of `asr train`, for the first machine with CUDA (none was
# available when they were written): training throughput with bf16 / fp16 / no autocast, a short
# run killed with SIGKILL and resumed on the GPU, and DistributedDataParallel over NCCL with
# torchrun (2 processes; on a single GPU both share it, which still exercises NCCL).
#
#   bash bench/gpu_check.sh [CORPUS_ROOT] [TRAIN_SUBSET] [DEV_SUBSET]     (default: corpora/synth synth-train synth-dev)
#
# Results: runs/gpu_check/*.json and the lines printed; about 10 minutes on one modern GPU.
set -euo pipefail
DATA=${1:-corpora/synth}; TRAIN=${2:-synth-train}; DEV=${3:-synth-dev}
PY=${PY:-.venv/bin/python}
OUT=runs/gpu_check
mkdir -p "$OUT"
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(), 'bf16:', torch.cuda.is_bf16_supported())"

for amp in auto fp16 off; do
  $PY bench/train_throughput.py --data "$DATA" --train "$TRAIN" --dev "$DEV" --minutes 30 \
      --modes fly-w8,speed-w8 --device cuda --amp $amp --threads 4 --json "$OUT/throughput-$amp.json" | grep '^{'
done

# killed mid-run, then resumed: the run must finish with 2 log rows
rm -rf "$OUT/resume"
ARGS=(train --data "$DATA" --train "$TRAIN" --dev "$DEV" --out "$OUT/resume" --epochs 2 --batch-seconds 400
      --checkpoint-every 20 --device cuda --speed-perturb --workers 4)
$PY -m asr "${ARGS[@]}" & PID=$!
for _ in $(seq 600); do
  sleep 1
  $PY -c "import torch,sys; s=torch.load('$OUT/resume/train_state.pt',weights_only=True); sys.exit(s['step']<40)" 2>/dev/null && break
done
kill -9 $PID; wait $PID || true
$PY -m asr train --resume "$OUT/resume"
test "$(wc -l < "$OUT/resume/log.csv")" -eq 3 && echo "resume on CUDA: OK"

# NCCL, 2 processes
if [ "$($PY -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  $PY -m torch.distributed.run --standalone --nproc_per_node 2 -m asr train --data "$DATA" --train "$TRAIN" \
      --dev "$DEV" --out "$OUT/ddp" --epochs 1 --batch-seconds 800 --max-minutes 5 --device cuda
  echo "torchrun NCCL: OK"
else
  echo "torchrun NCCL: skipped (one GPU)"
fi

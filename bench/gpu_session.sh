#!/usr/bin/env bash
# One short session on a lent GPU machine (no internet there; its python3 has torch + CUDA, not our
# venv): the wheels we need travel in .whl/, the corpus travels packed as Opus (python -m data.pack).
#
#   bash bench/gpu_session.sh check   # GPU paths of `asr train`: a smoke run, throughput per AMP mode,
#                                     # SIGKILL mid-run then --resume on CUDA (about 3 minutes)
#   bash bench/gpu_session.sh train   # the default-model candidate: --init from the bundled model,
#                                     # full augmentation, TRAIN_MINUTES of training (default 7)
#
# Data: corpora/gpu/LibriSpeech/{b1,b2,synth-dev} (packed), RIRs in corpora/rirs (asr rirs).
# Results go to $OUT (the device tool brings that folder back) or runs/gpu when OUT is unset.
set -euo pipefail
STAGE=${1:?check or train}
OUTDIR=${OUT:-runs/gpu}
mkdir -p "$OUTDIR"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
DATA=corpora/gpu
$PY -c "import torch, torchaudio, soundfile; assert torch.cuda.is_available(); print('torch', torch.__version__, \
'torchaudio', torchaudio.__version__, 'soundfile', soundfile.__version__, torch.cuda.get_device_name(), \
'bf16', torch.cuda.is_bf16_supported())"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader || true

if [ "$STAGE" = check ]; then
  set +e +o pipefail  # one failing check must not hide the others
  # 1. smoke: one epoch of b1 with the train stage's recipe (Opus decoding, full augmentation in 14
  #    workers, AMP, dev WER): the throughput the train stage will get
  $PY -m asr train --data $DATA --train b1 --dev synth-dev --out /tmp/runs/smoke --epochs 1 --device cuda \
      --init asr/assets/default.pt --dropout 0.15 --freq-warp 0.12 --time-stretch 0.1 --augment full \
      --rir-dir corpora/rirs --lr 1.5e-3 --warmup-steps 200 --workers 14 --batch-seconds ${BATCH:-600} 2>&1 \
      | tr '\r' '\n' | grep -v '%|' | tail -6
  cp /tmp/runs/smoke/log.csv "$OUTDIR/smoke-log.csv"
  # 2. throughput per mixed-precision mode (epoch 2 of 30 min of audio, 12 workers)
  for amp in auto fp16 off; do
    $PY bench/train_throughput.py --data $DATA --train b1 --dev synth-dev --minutes 20 --modes fly-w12 \
        --device cuda --amp $amp --threads 4 --batch-seconds 800 --json "$OUTDIR/throughput-$amp.json" | tail -2
  done
  # 3. killed mid-run with SIGKILL, then resumed: the run must finish with one log row per epoch
  rm -rf /tmp/runs/resume
  $PY -m asr train --data $DATA --train b1 --dev synth-dev --out /tmp/runs/resume --epochs 2 --device cuda \
      --batch-seconds 400 --checkpoint-every 10 --workers 12 --speed-perturb > /tmp/resume1.log 2>&1 & PID=$!
  for _ in $(seq 120); do
    sleep 0.5
    kill -0 $PID 2>/dev/null || { echo "resume check: the run ended before step 20"; tail -5 /tmp/resume1.log; break; }
    if $PY - <<'EOF' 2>/dev/null; then break; fi
import sys, torch
s = torch.load('/tmp/runs/resume/train_state.pt', weights_only=True, map_location='cpu')
sys.exit(0 if s['step'] >= 20 else 1)
EOF
  done
  kill -9 $PID || true; wait $PID || true
  $PY -m asr train --resume /tmp/runs/resume 2>&1 | tail -2
  rows=$(($(wc -l < /tmp/runs/resume/log.csv) - 1))
  echo "resume on CUDA: $rows epoch rows (expected 2)"
  cp /tmp/runs/resume/log.csv "$OUTDIR/resume-log.csv"
  exit 0
fi

# train: the default-model candidate
MIN=${TRAIN_MINUTES:-7}
RIRS=()
[ -d corpora/rirs ] && RIRS=(--rir-dir corpora/rirs)
AUG=(${AUGMENT:---augment full})
SUBSETS=$(cd $DATA/LibriSpeech && ls -d b? | paste -sd,)  # the packed training parts that are there
echo "training on $SUBSETS"
timeout $(( (${MIN%.*} + 2) * 60 )) $PY -m asr train --data $DATA --train $SUBSETS --dev synth-dev --out /tmp/runs/default \
    --init asr/assets/default.pt --cell gru --hidden 384 --layers 3 --dropout 0.15 --freq-warp 0.12 --time-stretch 0.1 \
    "${AUG[@]}" "${RIRS[@]}" --lr ${LR:-1.5e-3} --warmup-steps 200 --batch-seconds ${BATCH:-600} \
    --epochs 200 --max-minutes "$MIN" --device cuda --workers 14 --checkpoint-every 500 2>&1 | tr '\r' '\n' \
    | grep -v '%|' | tail -40 || true
for f in best.pt log.csv config.json; do cp /tmp/runs/default/$f "$OUTDIR/" 2>/dev/null || echo "missing $f"; done
ls -la "$OUTDIR"

#!/usr/bin/env bash
# The fidelity benchmark on a GPU, in one run: pretrain the bilinear twin (configs/synth_pretrain_bilinear.yaml) and
# fine-tune both shipped twins (resize, bilinear) on the three real pairs, 120 steps each in fp32, with their times.
#
# Usage:  benchmarks/gpu_fidelity.sh OUT SHARED [PYTHON]
#   OUT     folder for what comes back: the twin's config.json and weights.safetensors, its stats.jsonl, one
#           results-<pair>.jsonl per pair (benchmarks/fidelity.py's lines) and log.txt
#   SHARED  the folder holding the pairs (../shared/data, or a copy of the three pairs' files)
#   PYTHON  the interpreter (default python3), with cimgen importable (PYTHONPATH=src will do)
#
# QUICK=1 makes a tiny smoke test of the whole script on a CPU (4 tiles, 1 epoch, 2 steps, Map2Sat only).
#
# Pictures, checkpoints and the synthetic data stay under a temporary folder (the pairs' licences).
set -euo pipefail
OUT=$(realpath "$1"); SHARED=$(realpath "$2"); PY=${3:-python3}
mkdir -p "$OUT"
WORK=$(mktemp -d)
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
if [ "${QUICK:-0}" = 1 ]; then
  COUNT=4; EPOCHS=(--epochs 1 --decay-epochs 0); STEPS=2; EVERY=2; PAIRS=map2sat; DEVICE=cpu
else
  COUNT=300; EPOCHS=(); STEPS=120; EVERY=60; PAIRS="map2sat building2sat cityscapes"; DEVICE=cuda
fi
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
cimgen() { "$PY" -m cimgen.cli.main "$@"; }

stamp "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'); print('CPU:', torch.backends.cpu.get_cpu_capability(), 'threads', torch.get_num_threads())"

stamp "synthetic pretraining data (300 tiles, world seed 0)"
t0=$SECONDS
cimgen data synth --out "$WORK/synth-pretrain" --count "$COUNT" --size 256 --seed 0 > "$WORK/synth.log"
stamp "  $((SECONDS - t0)) s"

stamp "pretraining the bilinear twin"
t0=$SECONDS
cimgen train --config configs/synth_pretrain_bilinear.yaml --data "$WORK/synth-pretrain" --out "$WORK/pretrain-bilinear" \
  "${EPOCHS[@]}" --set loop.threads=8 > "$WORK/pretrain.log" 2>&1 || { tail -20 "$WORK/pretrain.log"; exit 1; }
stamp "  pretraining took $((SECONDS - t0)) s"
tail -3 "$WORK/pretrain.log"
last=$(ls -d "$WORK"/pretrain-bilinear/checkpoints/epoch-* | sort | tail -1)
export CIMGEN_BILINEAR_TWIN="$last"  # benchmarks/fidelity.py's memorise-detail-bilinear-pre starts from it
cp "$last/config.json" "$last/weights.safetensors" "$WORK/pretrain-bilinear/stats.jsonl" "$OUT/"

for pair in $PAIRS; do
  stamp "fidelity: $pair"
  t0=$SECONDS
  "$PY" benchmarks/fidelity.py --pair "$pair" --shared "$SHARED" --out "$WORK/fidelity-$pair" --device "$DEVICE" \
    --variants memorise-detail-resize-pre,memorise-detail-bilinear-pre --steps "$STEPS" --every "$EVERY"
  cp "$WORK/fidelity-$pair/results.jsonl" "$OUT/results-$pair.jsonl"
  stamp "  $pair took $((SECONDS - t0)) s in all"
done
stamp "done: results in $OUT"

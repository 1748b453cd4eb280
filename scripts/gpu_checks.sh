#!/usr/bin/env bash
# The GPU checks of issue 19, in one go, on scratch databases (nothing of yours is touched):
#   1. scripts/bench_suggest.sh: benchmark_suggest on CUDA (bf16 autocast) vs the bare forward, then torch vs onnxruntime
#   2. bench_pipeline on FACES synthetic faces with --device cuda (the suggest stage on the GPU, batch BATCH)
#   3. one epoch of train_suggester on CUDA on those faces' final labels (it prints img/s)
#   scripts/gpu_checks.sh [FACES] [BATCH]      (PYTHON=... to choose the interpreter; default 20000 faces, batch 512)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
FACES=${1:-20000}
BATCH=${2:-512}
$PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: nothing to check here")'
$PY -c 'import torch; p = torch.cuda.get_device_properties(0); print("GPU:", p.name, f"{p.total_memory / 2**30:.0f} GiB", "| torch", torch.__version__)'
scripts/bench_suggest.sh 4096 "$BATCH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BENCHMARKS=1 DEBUG=1 VAR_DIR="$work/var" DATABASE_URL="sqlite:///$work/bench.sqlite3"
unset REDIS_URL
$PY manage.py migrate -v0
# The whole path with the suggest stage on the GPU (--faces N, runs one size); the database is kept for step 3.
$PY manage.py bench_pipeline --faces "$FACES", --device cuda --batch-size "$BATCH" --suggest-sample 8192 \
  --workdir "$work" --keep-db --stages import,export 2> >(tee "$work/pipeline.err" >&2)
kept=$(sed -n 's/^kept: database \(.*\), folder \(.*\)$/\1 \2/p' "$work/pipeline.err" | tail -1)
read -r db folder <<< "$kept"
DATABASE_URL="$db" MEDIA_ROOT="$folder/media" $PY manage.py train_suggester --epochs 1 --device cuda \
  --batch-size 256 --workers 8 --name gpu-check

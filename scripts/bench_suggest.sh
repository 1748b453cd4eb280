#!/usr/bin/env bash
# The suggestion benchmark on a scratch database: end-to-end suggestions/s vs. the bare model.
# On a GPU box it runs on CUDA (bf16 autocast) and then on the CPU for comparison; elsewhere on the CPU.
# Then the project's network under torch and under onnxruntime (--compare-runtimes), on each device.
#   scripts/bench_suggest.sh [FACES] [BATCH]      (PYTHON=... to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
FACES=${1:-1024}
BATCH=${2:-256}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DATABASE_URL="sqlite:///$scratch/bench.sqlite3" MEDIA_ROOT="$scratch/media" VAR_DIR="$scratch/var" BENCHMARKS=1
unset REDIS_URL
$PY manage.py migrate -v0
if $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  $PY -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
  $PY manage.py benchmark_suggest --faces "$FACES" --batch-size "$BATCH" --device cuda --create-faces
  SUGGEST_DECODE_THREADS=${SUGGEST_DECODE_THREADS:-8} \
    $PY manage.py benchmark_suggest --faces "$FACES" --batch-size "$BATCH" --device cuda
  $PY manage.py benchmark_suggest --faces "$FACES" --batch-size "$BATCH" --device cuda --compare-runtimes
fi
$PY manage.py benchmark_suggest --faces "$FACES" --batch-size 64 --device cpu --create-faces
$PY manage.py benchmark_suggest --faces "${RUNTIME_FACES:-128}" --batch-size 64 --device cpu --compare-runtimes

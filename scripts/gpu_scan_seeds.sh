#!/bin/bash
# GPU check of robust SCAN (issue 9), on a machine with torch but no dvc/prefect/faiss: the `scan` and `kmeans`
# pipelines (shared pretext) for MNIST (`mnist` CPU-budget preset) seeds $SEEDS and CIFAR-10 (`cifar10-parquet`
# small-CNN preset) seeds $CIFAR_SEEDS, all at once on the one GPU, stopped at $SECONDS_LIMIT.
# Usage: DATA=.gpu_data OUT=/tmp/out bash scripts/gpu_scan_seeds.sh  -> OUT/gpu_scan_seeds.json, OUT/logs.txt
set -u
DATA=${DATA:-.gpu_data}
OUT=${OUT:-/tmp/gpu-scan-seeds}
WORK=/tmp/gpu-scan-seeds-work  # fixed: the deadline's pkill matches it
mkdir -p "$OUT" "$WORK"
pids=()
launch() {  # name, then gpu_check.py arguments
  local name=$1; shift
  OMP_NUM_THREADS=1 python scripts/gpu_check.py --parquet-dir "$DATA" --out "$WORK/$name" "$@" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
}
for seed in ${SEEDS:-0 1 2}; do
  launch "mnist-scan-s$seed" --pipelines scan kmeans --dataset mnist-gpu --source mnist --preset mnist --seed $seed
done
for seed in ${CIFAR_SEEDS:-0 1}; do
  launch "cifar-scan-s$seed" --pipelines scan kmeans --dataset cifar10-gpu --source cifar10 --preset cifar10-parquet --seed $seed
done
deadline=$((SECONDS + ${SECONDS_LIMIT:-420}))
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while [ $SECONDS -lt $deadline ] && running; do sleep 5; done
pkill -f "$WORK"; sleep 1  # past the deadline: stop its runs, keep what finished
python scripts/gpu_summary.py "$WORK" "$OUT/gpu_scan_seeds.json" "$OUT/logs.txt"

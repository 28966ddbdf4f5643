#!/bin/bash
# GPU check of the contrastive family (issue 8), on a machine with torch but no dvc/prefect/faiss:
#   1. MNIST (`mnist` CPU-budget preset, unchanged): cc (+ scan-on-cc, cc-selflabel), dcdc, iic, idfd for
#      seeds $SEEDS (default 1 2: seed 0 runs on the CPU), all at once on the one GPU;
#   2. CIFAR-10 (`cifar10-parquet` CPU-budget preset: small CNN) cc, dcdc, iic, idfd and scan, seed 0;
#   3. CIFAR-10 `cifar10` reference preset (ResNet-34 CC, ResNet-18 IDFD) for 2 epochs: seconds per epoch.
# Usage: DATA=.gpu_data OUT=/tmp/out bash scripts/gpu_contrastive.sh  (DATA holds cifar10-{train,test}.parquet and
# mnist-{train,test}.parquet). Writes OUT/gpu_contrastive.json and OUT/logs.txt.
set -u
DATA=${DATA:-.gpu_data}
OUT=${OUT:-/tmp/gpu-contrastive}
WORK=/tmp/gpu-contrastive-work  # fixed: the deadline's pkill matches it, so no caller's command line may name it
mkdir -p "$OUT" "$WORK"
pids=()
launch() {  # name, then gpu_check.py arguments
  local name=$1; shift
  OMP_NUM_THREADS=1 python scripts/gpu_check.py --parquet-dir "$DATA" --out "$WORK/$name" "$@" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
}
for seed in ${SEEDS:-1 2}; do
  launch "mnist-cc-s$seed" --pipelines cc scan-on-cc cc-selflabel --dataset mnist-gpu --source mnist --preset mnist --seed $seed
  for method in dcdc iic idfd; do
    launch "mnist-$method-s$seed" --pipelines $method --dataset mnist-gpu --source mnist --preset mnist --seed $seed
  done
done
for method in cc dcdc iic idfd scan; do
  launch "cifar-$method-s0" --pipelines $method --dataset cifar10-gpu --source cifar10 --preset cifar10-parquet
done
launch "cifar-ref-speed" --pipelines cc idfd --dataset cifar10-ref --source cifar10 --preset cifar10 --epochs cc=2 idfd=2
deadline=$((SECONDS + ${SECONDS_LIMIT:-480}))
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while [ $SECONDS -lt $deadline ] && running; do sleep 5; done
pkill -f "$WORK"; sleep 1  # past the deadline: stop its runs (their stage commands name $WORK), keep what finished
python scripts/gpu_summary.py "$WORK" "$OUT/gpu_contrastive.json" "$OUT/logs.txt"

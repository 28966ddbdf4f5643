#!/bin/bash
# GPU check of the k-means/EM family (issue 7), on a machine with torch but no dvc/prefect/faiss:
#   1. CIFAR-10 (`cifar10` reference preset: ResNet-18, Sobel DeepCluster k=100, PCL 100/250/500) for a few
#      epochs on a 25k-image subset: seconds per epoch, images/s, ACC after those epochs;
#   2. MNIST (`mnist` CPU-budget preset, unchanged) dec + idec and deepcluster + pcl for seeds 0-2, six runs at
#      once on the one GPU.
# Usage: DATA=.gpu_data OUT=/tmp/out bash scripts/gpu_family.sh  (DATA holds cifar10-{train,test}.parquet and
# mnist-{train,test}.parquet). Writes OUT/gpu_family.json (every run's stage timings and metrics) and OUT/logs.txt.
set -u
DATA=${DATA:-.gpu_data}
OUT=${OUT:-/tmp/gpu-family}
WORK=/tmp/gpu-family-work  # fixed: the deadline's pkill matches it, so no caller's command line may name it
mkdir -p "$OUT" "$WORK"
check() { python scripts/gpu_check.py --parquet-dir "$DATA" "$@"; }

OMP_NUM_THREADS=8 timeout "${CIFAR_SECONDS:-210}" python scripts/gpu_check.py --parquet-dir "$DATA" --pipelines deepcluster pcl --dataset cifar10-gpu \
    --source cifar10 --preset cifar10 --epochs deepcluster=5 pcl=5 --set pcl.warmup_epochs=2 \
    --out "$WORK/cifar10" > "$WORK/cifar10.log" 2>&1
tail -5 "$WORK/cifar10.log"
pids=()
for seed in 0 1 2; do
  OMP_NUM_THREADS=2 check --pipelines dec idec --dataset mnist-gpu --source mnist --preset mnist --seed $seed \
      --out "$WORK/mnist-dec-s$seed" > "$WORK/mnist-dec-s$seed.log" 2>&1 &
  pids+=($!)
  OMP_NUM_THREADS=2 check --pipelines deepcluster pcl --dataset mnist-gpu --source mnist --preset mnist \
      --seed $seed --out "$WORK/mnist-dcpcl-s$seed" > "$WORK/mnist-dcpcl-s$seed.log" 2>&1 &
  pids+=($!)
done
deadline=$((SECONDS + ${MNIST_SECONDS:-330}))
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while [ $SECONDS -lt $deadline ] && running; do sleep 5; done
pkill -f "$WORK"; sleep 1  # past the deadline: stop its runs (their stage commands name $WORK), keep what finished
python scripts/gpu_summary.py "$WORK" "$OUT/gpu_family.json" "$OUT/logs.txt"

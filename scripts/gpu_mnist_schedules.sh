#!/bin/bash
# GPU check of issue 23 (MNIST, `mnist` preset, on a machine with torch but no dvc/prefect/faiss): do the methods
# short of their bar get there with a longer schedule than the 2-core CPU's 20 minutes allow?
#   - iic, cc, dcdc for seeds 0 1 2 with $LONG_EPOCHS times the preset's epochs; their budget curves (test ACC of
#     the head the stage would keep, after each epoch) are scored at the end, also for runs the deadline stopped;
#   - pcl and deepcluster, seed 0, with $EM_LONG_EPOCHS times the preset's epochs (no curves: final ACC only).
# All runs share the one GPU at once, so epoch times are those of a shared GPU.
# Usage: DATA=.gpu_data OUT=/tmp/out SECONDS_LIMIT=450 bash scripts/gpu_mnist_schedules.sh  (DATA holds
# mnist-{train,test}.parquet). Writes OUT/gpu_mnist_schedules.json, OUT/curves.json and OUT/logs.txt.
set -u
DATA=${DATA:-.gpu_data}
OUT=${OUT:-/tmp/gpu-mnist-schedules}
LONG=${LONG_EPOCHS:-4}
EM_LONG=${EM_LONG_EPOCHS:-3}  # their epochs are longer (an E-step or a re-clustering each): shorter, to finish
WORK=/tmp/gpu-mnist-schedules-work  # fixed: the deadline's pkill matches it, so no caller's command line may name it
mkdir -p "$OUT" "$WORK"
preset_epochs() { ${PYTHON:-python3} -c "import yaml; print(yaml.safe_load(open('params.yaml'))['$1']['mnist']['epochs'])"; }
pids=()
launch() {  # name, then gpu_check.py arguments
  local name=$1; shift
  OMP_NUM_THREADS=1 ${PYTHON:-python3} scripts/gpu_check.py --parquet-dir "$DATA" --out "$WORK/$name" --dataset mnist-gpu \
    --source mnist --preset mnist "$@" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
}
for method in iic cc dcdc; do
  for seed in ${SEEDS:-0 1 2}; do
    launch "$method-s$seed" --pipelines "$method" --seed "$seed" --epochs "$method=$(( $(preset_epochs $method) * LONG ))"
  done
done
for method in pcl deepcluster; do
  launch "$method-s0" --pipelines "$method" --seed 0 --epochs "$method=$(( $(preset_epochs $method) * EM_LONG ))"
done
deadline=$((SECONDS + ${SECONDS_LIMIT:-450}))
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while [ $SECONDS -lt $deadline ] && running; do sleep 5; done
pkill -f "$WORK"; sleep 2  # past the deadline: stop its runs (their stage commands name $WORK), keep what finished
${PYTHON:-python3} scripts/gpu_summary.py "$WORK" "$OUT/gpu_mnist_schedules.json" "$OUT/logs.txt"
curves=$(ls -d "$WORK"/*/data/mnist-gpu/seed*/{iic,cc,dcdc} 2>/dev/null)
# shellcheck disable=SC2086  # one folder per word
[ -n "$curves" ] && ${PYTHON:-python3} scripts/budget_curve.py $curves --minutes 5 10 20 40 --json "$OUT/curves.json"

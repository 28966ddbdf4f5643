#!/usr/bin/env bash
# The main job: sets up .venv, then runs the whole SCAN pipeline on the embedded default data set
# (scikit-learn's 8x8 digits: no network, no file) with `dvc repro`, and prints the metrics table.
# Extra arguments go to `dvc repro` (e.g. `bash scripts/run.sh -f` to force a full re-run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH"
start=$(date +%s)
dvc repro "$@"
echo "[run] dvc repro finished in $(( $(date +%s) - start )) s"
python -m stages.report --dataset digits --metrics data/digits/evaluate/metrics.json

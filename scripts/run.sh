#!/usr/bin/env bash
# The main job: sets up .venv, brings the generated dvc.yaml files up to date with params.yaml, then runs
# `dvc repro`: the main pipelines (params.yaml `main`: SCAN, k-means on its features, k-means on pixels) on the
# embedded default data set (scikit-learn's 8x8 digits: no network, no file), and prints the metrics table.
# Extra arguments go to `dvc repro` (e.g. `bash scripts/run.sh -f` to force a full re-run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH"
python -m pipelines sync
start=$(date +%s)
dvc repro "$@"
echo "[run] dvc repro finished in $(( $(date +%s) - start )) s"
cat reports/*.md 2>/dev/null | head -40 || true

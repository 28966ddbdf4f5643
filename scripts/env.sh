#!/usr/bin/env bash
# Creates or updates the project's own virtual environment in .venv (idempotent, no network beyond PyPI).
# torch/torchvision are installed first at the versions this machine serves from local disk, so that the
# project's `torch>=2.2` range is already satisfied and pip never pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${DEEPCLUST_TORCH:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=${DEEPCLUST_EXTRAS:-cpu,dev}
stamp=.venv/.deepclust-installed
want="$(cat pyproject.toml) $TORCH_SPEC $EXTRAS"
if [ ! -x .venv/bin/python ]; then
  echo "[env] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[env] installing $TORCH_SPEC and deepclust[$EXTRAS] into .venv (a few minutes the first time)"
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install -q --disable-pip-version-check $TORCH_SPEC 2>&1 | grep -v "is ignored: it is neither" || true
  # Both faiss builds install the same `import faiss`: never keep the other one around.
  case ",$EXTRAS," in
    *,gpu,*) .venv/bin/python -m pip uninstall -q -y faiss-cpu >/dev/null 2>&1 || true ;;
    *,cpu,*) .venv/bin/python -m pip uninstall -q -y faiss-gpu-cu12 >/dev/null 2>&1 || true ;;
  esac
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]" 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import torch, torchvision, faiss, prefect, dvc" || { echo "[env] install failed" >&2; exit 1; }
  printf '%s' "$want" > "$stamp"
fi

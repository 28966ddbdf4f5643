#!/usr/bin/env bash
# Sets up .venv, then runs the test suite (arguments go to pytest, e.g. `bash scripts/test.sh --runslow`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export PATH="$PWD/.venv/bin:$PATH"
exec python -m pytest "$@"

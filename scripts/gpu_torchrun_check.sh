#!/bin/bash
# GPU check of the scale-out issue: the digits pretext, embed and mine stages run plainly and under
# `torchrun --nproc-per-node=1` (scripts/gpu_check.py, no DVC/Prefect/faiss needed), then compares the loss
# history, the neighbour accuracy and the wall time. Usage: OUT=/tmp/out bash scripts/gpu_torchrun_check.sh
set -u
OUT=${OUT:-/tmp/gpu-torchrun}
UNTIL=${UNTIL:-mine-scan}
mkdir -p "$OUT"
python scripts/gpu_check.py --pipelines scan --dataset digits --until "$UNTIL" --out "$OUT/plain" > "$OUT/plain.log" 2>&1
echo "plain: exit $?"
python scripts/gpu_check.py --pipelines scan --dataset digits --until "$UNTIL" --torchrun 1 --out "$OUT/torchrun" \
  > "$OUT/torchrun.log" 2>&1
echo "torchrun: exit $?"
python - "$OUT" <<'PY'
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
report = {}
for run in ("plain", "torchrun"):
    check = out / run / "gpu_check.json"
    rows = list(csv.DictReader(open(out / run / "data/digits/seed0/pretext-scan/run/log.csv")))
    report[run] = {"device": json.loads(check.read_text()).get("device"),
                   "stage_seconds": {k: v["seconds"] for k, v in json.loads(check.read_text())["stages"].items()},
                   "losses": [float(r["loss"]) for r in rows],
                   "mine": json.loads((out / run / "data/digits/seed0/mine-scan/metrics.json").read_text())}
a, b = report["plain"]["losses"], report["torchrun"]["losses"]
report["max_abs_loss_diff"] = max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) else None
report["epochs"] = [len(a), len(b)]
for run in ("plain", "torchrun"):
    r = report[run]
    print(run, r["device"], "final loss", r["losses"][-1], "neighbour_acc@1", r["mine"].get("neighbour_acc@1"),
          "seconds", r["stage_seconds"])
print("epochs", report["epochs"], "max |loss plain - loss torchrun| over epochs", report["max_abs_loss_diff"])
(out / "torchrun_check.json").write_text(json.dumps(report, indent=1))
PY

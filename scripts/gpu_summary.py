"""Collects the gpu_check.json of every run under WORK into one JSON file and the runs' logs into one text file,
and prints each run's stage exit codes, seconds and ACC/NMI/ARI (the GPU scripts' last step).

    python scripts/gpu_summary.py WORK OUT.json LOGS.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(work: Path, out_json: Path, out_logs: Path) -> None:
    runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(work.glob("*/gpu_check.json"))}
    out_json.write_text(json.dumps(runs, indent=1))
    with open(out_logs, "w") as fh:
        for log in sorted(work.glob("*.log")):
            lines = [line for line in log.read_text().splitlines() if "\r" not in line]
            fh.write(f"##### {log.name}\n" + "\n".join(lines[-60:]) + "\n")
    for name, run in runs.items():
        print(name, {k: (v["exit"], v["seconds"], {m: v["metrics"].get(m) for m in ("acc", "nmi", "ari")
                                                   if m in v["metrics"]}) for k, v in run["stages"].items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))

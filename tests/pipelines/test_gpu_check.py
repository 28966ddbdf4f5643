"""scripts/gpu_check.py, the GPU machine's way to run pipelines without DVC: the same stage commands, on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_a_pipelines_stages_in_order_and_reports_their_metrics(tmp_path: Path) -> None:
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, "scripts/gpu_check.py", "--pipelines", "kmeans-pixels", "--dataset",
                           "digits", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    stages = report["stages"]
    assert list(stages)[0] == "prepare" and list(stages)[-1].endswith("evaluate")
    assert all(s["exit"] == 0 for s in stages.values())
    assert 0.5 < stages[list(stages)[-1]]["metrics"]["acc"] <= 1.0  # k-means on digits' pixels: ~0.75
    assert (out / "data" / "digits" / "prepared").is_dir()  # `data/` of the stage commands mapped under --out

"""The checked-in dvc.yaml and pipelines/dvc.yaml equal what scripts/gen_dvc_yaml.py writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_dvc_yaml_files_are_current() -> None:
    check = subprocess.run(
        [sys.executable, "scripts/gen_dvc_yaml.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

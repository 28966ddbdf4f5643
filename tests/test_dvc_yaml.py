"""dvc.yaml and pipelines/dvc.yaml are generated from one template: the checked-in files must be current."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_generated_dvc_yaml_is_current() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_dvc_yaml.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dataset_has_every_stage_section() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for stage in ("pretext", "embed", "mine", "scan", "selflabel", "evaluate"):
        assert set(params[stage]) == set(params["datasets"]), stage


def test_params_validate_for_every_dataset() -> None:
    sys.path.insert(0, str(ROOT))
    from stages.params import STAGE_PARAMS, load_params

    for dataset in yaml.safe_load((ROOT / "params.yaml").read_text())["datasets"]:
        for stage in STAGE_PARAMS:
            load_params(stage, dataset, ROOT / "params.yaml")

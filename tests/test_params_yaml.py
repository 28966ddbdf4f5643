"""params.yaml: every data set has a block for every stage, and every block validates."""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


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

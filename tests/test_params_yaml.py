"""params.yaml: every data set names a preset with a block for every stage, and every block validates."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stages.params import STAGE_PARAMS, load_params  # noqa: E402

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("dataset", sorted(PARAMS["datasets"]))
def test_every_stage_block_of_every_dataset_validates(dataset: str) -> None:
    preset = PARAMS["datasets"][dataset]["preset"]
    for stage in STAGE_PARAMS:
        assert preset in PARAMS[stage], f"{stage}.{preset}"
        load_params(stage, dataset, ROOT / "params.yaml")


@pytest.mark.parametrize("pipeline", sorted(PARAMS["pipelines"]))
def test_pipeline_overrides_validate(pipeline: str) -> None:
    for dataset in PARAMS["datasets"]:
        for stage in STAGE_PARAMS:
            load_params(stage, dataset, ROOT / "params.yaml", pipeline=pipeline)

"""params.yaml: every stage of every pipeline resolves on every data set whose presets cover it, and every preset
states what it uses (no required setting left to a default)."""

import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stages.kinds import KINDS  # noqa: E402
from stages.resolve import resolve  # noqa: E402

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _kinds(spec) -> list[str]:
    return spec if isinstance(spec, list) else spec["stages"]


@pytest.mark.parametrize("dataset", sorted(PARAMS["datasets"]))
def test_every_stage_of_every_pipeline_resolves(dataset: str) -> None:
    for pipeline, spec in PARAMS["pipelines"].items():
        for kind in _kinds(spec):
            variant = pipeline if isinstance(spec, dict) and kind in spec else None
            resolve(PARAMS, kind, dataset, variant, ROOT / "params.yaml")


def test_every_kind_in_use_has_a_preset_for_every_built_in_data_set() -> None:
    used = {k for spec in PARAMS["pipelines"].values() for k in _kinds(spec)}
    for dataset, block in PARAMS["datasets"].items():
        for kind in sorted(used):
            if KINDS[kind].params.model_fields:
                assert block["preset"] in PARAMS[kind], f"{kind}.{block['preset']} ({dataset})"

"""load_params: a data set's preset, its overrides and the pipeline's, merged in that order; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from stage_helpers import DS, write_params

from deepclust.errors import DeepclustError
from stages.params import load_params, merged


def _mine(params: dict) -> None:
    params["datasets"]["mine"] = {"preset": DS, "num_classes": 4,
                                  "source": {"kind": "folder", "train": "imgs", "skip_unreadable": True},
                                  "overrides": {"scan": {"epochs": 7, "augment": {"num_ops": 1}}}}
    params["pipelines"]["scan-on-features"]["scan"]["epochs"] = 9


def test_preset_then_dataset_overrides_then_pipeline(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", _mine)
    ds, p = load_params("scan", "mine", path)
    assert ds.num_classes == 4 and ds.source.skip_unreadable and ds.preset == DS
    assert p.epochs == 7 and p.augment.num_ops == 1 and p.augment.cutout_max == 3  # nested keys merge
    assert p.batch_size == 128 and p.head == "linear"  # the rest comes from scan.digits
    _, q = load_params("scan", "mine", path, pipeline="scan-on-features")
    assert q.epochs == 9 and q.head == "mlp" and q.augment.num_ops == 1


def test_the_preset_itself_is_unchanged(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", _mine)
    assert load_params("scan", DS, path)[1].epochs == 2


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda p: p["datasets"][DS].pop("preset"), "datasets.digits.preset: Field required"),
    (lambda p: p["datasets"][DS].update(preset="cifar"), "scan.cifar is missing"),
    (lambda p: p["datasets"][DS].update(overrides={"scan": {"epochs": "x"}}),
     "scan.digits.epochs: Input should be a valid integer, unable to parse string as an integer, got 'x' "
     "(merged with datasets.digits.overrides.scan)"),
    (lambda p: p["datasets"][DS]["source"].update(kind="folder"), "datasets.digits.source"),
])
def test_errors_name_the_key(tmp_path: Path, edit, expected: str) -> None:
    path = write_params(tmp_path / "params.yaml", edit)
    with pytest.raises(DeepclustError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_params("scan", DS, path)


def test_unknown_pipeline(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="unknown pipeline 'nope'"):
        load_params("scan", DS, write_params(tmp_path / "params.yaml"), pipeline="nope")


def test_merged_is_deep_and_does_not_mutate() -> None:
    base = {"a": 1, "b": {"c": 2, "d": 3}}
    assert merged(base, {"b": {"c": 5}}, None, {"e": 6}) == {"a": 1, "b": {"c": 5, "d": 3}, "e": 6}
    assert base == {"a": 1, "b": {"c": 2, "d": 3}}

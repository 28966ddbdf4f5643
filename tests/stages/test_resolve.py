"""resolve: a data set's preset, its overrides and the pipeline's, merged in that order; the layer of every value,
the exact params.yaml keys read, one-line errors, and the checks against the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from stage_helpers import DS, TINY_PARAMS, TINY_SETTINGS, write_params

from deepclust.errors import DeepclustError
from stages.kinds import all_kinds, kind_of
from stages.kinds.scan import ScanParams
from stages.resolve import DEFAULT, load, merged, problems, resolve


def _mine(params: dict) -> None:
    params["datasets"]["mine"] = {"preset": DS, "num_classes": 4,
                                  "source": {"kind": "folder", "train": "imgs", "skip_unreadable": True},
                                  "overrides": {"scan": {"epochs": 7, "augment": {"num_ops": 1}}}}
    params["pipelines"] = {**params["pipelines"], "scan-on-features": {
        "stages": ["prepare", "embed", "mine", "scan", "selflabel", "evaluate"], "scan": {"head": "mlp", "epochs": 9}}}


def test_preset_then_dataset_overrides_then_pipeline_with_the_layer_of_each_value(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", _mine)
    r = load("scan", "mine", path)
    p = r.settings
    assert p.epochs == 7 and p.augment.num_ops == 1 and p.augment.cutout_max == 3  # nested keys merge
    assert p.batch_size == 128 and p.head == "linear" and p.num_clusters == 4  # K from the class count
    assert r.layers["epochs"] == r.layers["augment.num_ops"] == "datasets.mine.overrides.scan"
    assert r.layers["augment.cutout_max"] == "scan.digits" and r.layers["weight_decay"] == DEFAULT
    assert r.layers["num_clusters"] == "datasets.mine.num_classes"
    assert r.keys == ("scan.digits", "datasets.mine.overrides.scan", "datasets.mine.num_classes")
    q = load("scan", "mine", path, pipeline="scan-on-features")
    assert q.settings.epochs == 9 and q.settings.head == "mlp" and q.settings.augment.num_ops == 1
    assert q.layers["epochs"] == "pipelines.scan-on-features.scan" and q.pipeline == "scan-on-features"
    assert q.keys[-2:] == ("pipelines.scan-on-features.scan", "datasets.mine.num_classes")


def test_a_stage_reads_only_its_own_settings_and_the_facts_it_uses(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", _mine)
    pretext = load("pretext", "mine", path)
    assert pretext.keys == ("pretext.digits",)  # not the data set block, not scan's override
    assert "num_classes" not in pretext.facts and pretext.record(3)["seed"] == 3
    kmeans = load("kmeans", "mine", path)
    assert kmeans.keys == ("kmeans.digits", "datasets.mine.num_classes")
    with_stats = write_params(tmp_path / "p2.yaml", lambda p: p["datasets"][DS].update(mean=[0.5], std=[0.2]))
    assert load("pretext", DS, with_stats).keys == ("pretext.digits", f"datasets.{DS}.mean", f"datasets.{DS}.std")
    assert load("prepare", DS, with_stats).keys == (f"datasets.{DS}.source",)


def test_a_set_k_does_not_read_the_class_count(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", lambda p: p["kmeans"][DS].update(num_clusters=30))
    r = load("kmeans", DS, path)
    assert r.settings.num_clusters == 30 and r.keys == ("kmeans.digits",)
    assert r.layers["num_clusters"] == "kmeans.digits"


def test_a_stage_that_makes_no_clusters_reads_the_class_count_beside_its_own_k(tmp_path: Path) -> None:
    """DeepCluster's k (20 here, 100 on MNIST) is a training setting; the class count is its budget curve's K."""
    r = load("deepcluster", DS, write_params(tmp_path / "params.yaml"))
    assert r.settings.num_clusters == 20 and r.layers["num_clusters"] == "deepcluster.digits"
    assert r.facts["num_classes"] == 10 and r.keys[-1] == f"datasets.{DS}.num_classes"


def test_the_record_is_what_a_fingerprint_hashes(tmp_path: Path) -> None:
    """A scan override changes scan's record only: the pretext checkpoint's fingerprint stays valid."""
    plain = write_params(tmp_path / "a.yaml")
    edited = write_params(tmp_path / "b.yaml", lambda p: p["datasets"][DS].update(overrides={"scan": {"epochs": 5}}))
    assert load("pretext", DS, plain).record(0) == load("pretext", DS, edited).record(0)
    assert load("scan", DS, plain).record(0) != load("scan", DS, edited).record(0)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda p: p["datasets"][DS].pop("preset"), "datasets.digits.preset: Field required"),
    (lambda p: p["datasets"][DS].update(preset="cifar"), "scan.cifar is missing"),
    (lambda p: p["datasets"][DS].update(overrides={"scan": {"epochs": "x"}}),
     "scan.digits.epochs: Input should be a valid integer, unable to parse string as an integer, got 'x' "
     "(data set 'digits'; merged with datasets.digits.overrides.scan, datasets.digits.num_classes)"),
    (lambda p: p["datasets"][DS]["source"].update(kind="folder"), "datasets.digits.source"),
    (lambda p: p["scan"][DS].pop("augment"), "scan.digits.augment: Field required"),  # no silent defaults
])
def test_errors_name_the_key(tmp_path: Path, edit, expected: str) -> None:
    path = write_params(tmp_path / "params.yaml", edit)
    with pytest.raises(DeepclustError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load("scan", DS, path)


def test_unknown_pipeline_and_kind(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml")
    with pytest.raises(DeepclustError, match="unknown pipeline 'nope'"):
        load("scan", DS, path, pipeline="nope")
    with pytest.raises(DeepclustError, match="unknown stage kind 'nope'; declared: ae_pretrain, baseline"):
        load("nope", DS, path)


@pytest.mark.parametrize(("kind", "edit", "expected"), [
    ("pcl", {"warmup_epochs": 2, "epochs": 2}, "warmup_epochs=2 >= epochs=2"),
    ("iic", {"epochs": 1, "overcluster": 20}, "epochs=1 never trains the K head"),
])
def test_a_setting_that_never_trains_what_it_keeps_fails_at_resolve(tmp_path: Path, kind: str, edit: dict,
                                                                    expected: str) -> None:
    path = write_params(tmp_path / "params.yaml", lambda p: p[kind][DS].update(edit))
    with pytest.raises(DeepclustError, match=expected):
        load(kind, DS, path)


def test_settings_are_checked_against_the_data_before_training(tmp_path: Path) -> None:
    path = write_params(tmp_path / "params.yaml", lambda p: p["datasets"][DS].update(num_classes=50))
    found = problems(load("scan", DS, path), n_train=2)
    assert found == ["scan on digits: num_clusters (from datasets.digits.num_classes) 50 clusters need more than "
                     "the 2 training samples"]
    assert problems(load("mine", DS, path), n_train=20) == [
        "mine on digits: num_neighbors (from mine.digits) 20 neighbours need more than the 20 training samples"]
    assert problems(load("scan", DS, path), n_train=1437) == []


def test_every_kind_is_declared_once_on_its_params_model() -> None:
    kinds = all_kinds()
    assert kind_of("scan").params is ScanParams and ScanParams.KIND is kinds["scan"]
    assert set(TINY_SETTINGS) == set(kinds) - {"prepare"}  # the tests' sizes cover every declared kind
    for name, kind in kinds.items():  # one module per kind, named after it
        assert kind.params.__module__ == f"stages.kinds.{name}"
    used = {k for spec in TINY_PARAMS["pipelines"].values() for k in (spec if isinstance(spec, list)
                                                                       else spec["stages"])}
    assert used <= set(kinds)


def test_merged_is_deep_and_does_not_mutate() -> None:
    base = {"a": 1, "b": {"c": 2, "d": 3}}
    assert merged(base, {"b": {"c": 5}}, None, {"e": 6}) == {"a": 1, "b": {"c": 5, "d": 3}, "e": 6}
    assert base == {"a": 1, "b": {"c": 2, "d": 3}}


def test_resolve_takes_a_loaded_mapping() -> None:
    r = resolve(TINY_PARAMS, "embed", DS)
    assert r.settings.batch_size == 512 and r.keys == ("embed.digits",)


def test_a_stage_checks_the_keys_its_dvc_yaml_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A removed override leaves DVC blind (it ignores a key a stage stops listing); the command's `--keys` digest
    changes instead, and a stage run against keys other than its dvc.yaml's stops with one line."""
    from stage_helpers import argv, run_stage, stderr_error_line

    from stages import kmeans
    from stages.resolve import keys_digest

    plain = write_params(tmp_path / "a.yaml")
    edited = write_params(tmp_path / "b.yaml", lambda p: p["datasets"][DS].update(overrides={"kmeans": {"niter": 5}}))
    assert keys_digest(load("kmeans", DS, plain).keys) != keys_digest(load("kmeans", DS, edited).keys)
    args = argv("pretext-embed-kmeans", tmp_path / "data", edited) + ["--keys", keys_digest(load("kmeans", DS,
                                                                                                plain).keys)]
    assert run_stage(kmeans, args) == 2
    line = stderr_error_line(capsys.readouterr().err)
    assert "are not the ones its dvc.yaml lists: run `python -m pipelines sync`" in line

"""`python -m pipelines`: list, check, sync and declare (on a copy), show, and the one-line errors of `run`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import DeclarationError, stale_files, sync
from pipelines.declare import ensure_asked, with_run
from pipelines.render import HEADER

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=cwd, capture_output=True, text=True)


def test_list_prints_every_pipeline_and_the_runs_asked_for() -> None:
    out = cli("list").stdout
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for pipeline in params["pipelines"]:
        assert f"\n{pipeline}: prepare -> " in out
    assert ("\nkmeans: prepare -> pretext -> pretext-embed -> pretext-embed-kmeans -> pretext-embed-kmeans-evaluate"
            in out)
    assert "  digits, seed 0: scan, kmeans, kmeans-pixels" in out


def test_run_rejects_unknown_data_set_and_pipeline_in_one_line() -> None:
    before = (ROOT / "params.yaml").read_bytes()
    cases = ((["scan", "nope"], "unknown data set 'nope'"), (["nope", "digits"], "unknown pipeline 'nope'"))
    for args, message in cases:
        done = cli("run", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert (ROOT / "params.yaml").read_bytes() == before  # nothing declared


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for rel in ("params.yaml", "dvc.yaml", "pipelines", "stages", "deepclust"):
        src = ROOT / rel
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / rel)
    return root


def test_sync_writes_the_runs_asked_for_and_removes_the_rest(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert stale_files(root) == []
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["bench"] = {"digits": {"pipelines": ["kmeans"], "seeds": [7]}}
    params["runs"] = []
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changes = sync(root)
    assert "wrote pipelines/digits/seed7/dvc.yaml" in changes
    assert any(c.startswith("removed pipelines/mnist-parquet/seed1/dvc.yaml") for c in changes)
    assert any(c.startswith("removed pipelines/digits/seed3/dvc.yaml") for c in changes)  # the 5-seed run is gone
    assert (root / "pipelines/digits/seed7/dvc.yaml").read_text().startswith(HEADER)
    assert "--seed 7" in (root / "pipelines/digits/seed7/dvc.yaml").read_text()
    assert sync(root) == [] and stale_files(root) == []


def test_a_new_run_declares_itself_in_one_line_keeping_the_file_as_written(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    before = (root / "params.yaml").read_text()
    ensure_asked("iic", "mnist-parquet", [4], root)
    after = (root / "params.yaml").read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["  - {dataset: mnist-parquet, pipelines: [iic], seeds: [4]}"]
    assert after.startswith(before.split("\nruns:")[0])  # every line before `runs` as it was
    assert (root / "pipelines/mnist-parquet/seed4/dvc.yaml").exists()
    ensure_asked("iic", "mnist-parquet", [4], root)  # already asked for: nothing changes
    assert (root / "params.yaml").read_text() == after


def test_runs_are_created_when_params_yaml_has_none() -> None:
    text = with_run("a: 1  # keep me\n", "digits", ["scan"], [2], Path("params.yaml"))
    assert text.startswith("a: 1  # keep me\n")
    assert yaml.safe_load(text)["runs"] == [{"dataset": "digits", "pipelines": ["scan"], "seeds": [2]}]
    text = with_run("runs: []\nb: 2\n", "digits", ["scan"], [0], Path("params.yaml"))
    assert yaml.safe_load(text) == {"runs": [{"dataset": "digits", "pipelines": ["scan"], "seeds": [0]}], "b": 2}


def test_a_new_run_with_invalid_settings_is_refused_before_params_yaml_changes(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    text = (root / "params.yaml").read_text().replace(
        "\ndatasets:\n", "\ndatasets:\n  weird: {preset: nope, source: {kind: digits}, num_classes: 3}\n", 1)
    (root / "params.yaml").write_text(text)
    assert sync(root) == []  # declaring a data set costs nothing until a run uses it
    with pytest.raises(DeclarationError, match="pretext.nope is missing"):
        ensure_asked("scan", "weird", [0], root)
    assert (root / "params.yaml").read_text() == text


def test_bench_seeds_are_checked(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["bench"] = {"digits": {"seeds": [0, 0]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(DeclarationError, match=r"bench\.digits\.seeds"):
        sync(root)


def test_a_bad_declaration_is_one_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["pipelines"]["broken"] = ["prepare", "mine"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    done = cli("check", cwd=root)
    assert done.returncode == 2 and "stage 2 (mine) needs features" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_show_prints_every_value_and_its_layer() -> None:
    done = cli("show", "scan", "cifar10-parquet", "--stage", "pretext", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)["stages"]
    assert [s["kind"] for s in shown] == ["pretext"]
    values = shown[0]["values"]
    assert values["backbone"] == {"value": "small_cnn_s2", "from": "pretext.cifar10-parquet"}
    assert values["augment.hue"] == {"value": 0.1, "from": "pretext.cifar10-parquet"}  # stated by the preset
    assert values["augment.hue_space"]["from"] == "default (stages/params.py)"
    assert values["datasets.cifar10-parquet.mean"]["from"] == "datasets.cifar10-parquet"
    assert shown[0]["keys"] == ["pretext.cifar10-parquet", "datasets.cifar10-parquet.mean",
                                "datasets.cifar10-parquet.std"]
    text = cli("show", "kmeans", "digits").stdout
    assert "num_clusters" in text and "datasets.digits.num_classes" in text  # K from the class count
    assert "l2_normalize" in text


def test_show_names_the_pipeline_override_layer() -> None:
    shown = json.loads(cli("show", "deepcluster", "digits", "--stage", "kmeans", "--json").stdout)["stages"][0]
    assert shown["values"]["l2_normalize"] == {"value": True, "from": "pipelines.deepcluster.kmeans"}
    assert "pipelines.deepcluster.kmeans" in shown["keys"]

"""`python -m pipelines`: list, check, sync and declare (on a copy), show, and the one-line errors of `run`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines import HOLDERS, DeclarationError, materialised, stale_files, sync
from pipelines.declare import ensure_asked, with_run
from pipelines.graph import Run
from pipelines.render import BENCH_DIR, HEADER

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
        if src.is_dir():  # not the stage files of a benchmark running in this checkout (a fresh clone has none)
            shutil.copytree(src, root / rel, ignore=_running_bench_files)
        else:
            shutil.copy2(src, root / rel)
    return root


def _running_bench_files(folder: str, names: list[str]) -> list[str]:
    return ["dvc.yaml"] if Path(folder).is_relative_to(ROOT / BENCH_DIR) and "dvc.yaml" in names else []


def _declare(root: Path, **changes: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump({**params, **changes}, sort_keys=False))


def test_sync_writes_the_runs_asked_for_and_removes_the_rest(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert stale_files(root) == []
    _declare(root, runs=[{"dataset": "digits", "pipelines": ["kmeans"], "seeds": [7]}],
             bench={"mnist-parquet": {"pipelines": ["kmeans"], "seeds": [0]}})
    changes = sync(root)
    assert "wrote pipelines/digits/seed7/dvc.yaml" in changes
    assert (root / "pipelines/digits/seed7/dvc.yaml").read_text().startswith(HEADER)
    assert "--seed 7" in (root / "pipelines/digits/seed7/dvc.yaml").read_text()
    assert not list((root / "pipelines/bench").rglob("dvc.yaml"))  # a benchmark's stages wait for the benchmark
    assert sync(root) == [] and stale_files(root) == []

    changes = sync(root, bench=True)  # for `dvc` by hand
    assert {"wrote pipelines/bench/mnist-parquet/dvc.yaml", "wrote pipelines/bench/mnist-parquet/seed0/dvc.yaml",
            "wrote pipelines/bench/dvc.yaml"} <= set(changes)
    assert stale_files(root)  # no benchmark is running: a plain sync removes them

    _declare(root, runs=[])
    changes = sync(root)
    assert any(c.startswith("removed pipelines/digits/seed7/dvc.yaml (no run asks for it)") for c in changes)
    assert any(c.startswith("removed pipelines/bench/mnist-parquet/seed0/dvc.yaml (written while a benchmark runs")
               for c in changes)
    assert sync(root) == [] and stale_files(root) == []


def _lock(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["stages"] if path.exists() else {}


def test_a_stage_moving_between_the_graph_and_a_benchmark_keeps_its_dvc_lock_entry(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _declare(root, runs=[], bench={"digits": {"pipelines": ["kmeans"], "seeds": [7]}})
    sync(root)
    bench_lock, live_lock = root / "pipelines/bench/digits/seed7/dvc.lock", root / "pipelines/digits/seed7/dvc.lock"
    entry = {"cmd": "python -m stages.pretext --seed 7", "outs": [{"path": "data/digits/seed7/pretext/model.pt",
                                                                    "hash": "md5", "md5": "0" * 32, "size": 1}]}
    bench_lock.parent.mkdir(parents=True)
    bench_lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"pretext": entry, "gone": {"cmd": "x"}}}))

    _declare(root, runs=[{"dataset": "digits", "pipelines": ["kmeans"], "seeds": [7]}])  # a run asks for them now
    changes = sync(root)
    assert any(c.startswith("moved 1 dvc.lock entries from pipelines/bench/digits/seed7/dvc.lock to "
                            "pipelines/digits/seed7/dvc.lock (pretext)") for c in changes), changes
    assert _lock(live_lock) == {"pretext": entry}
    assert _lock(bench_lock) == {"gone": {"cmd": "x"}}  # a stage no file holds keeps its record where it was

    _declare(root, runs=[])  # back to the benchmark only
    sync(root)
    assert _lock(bench_lock) == {"gone": {"cmd": "x"}, "pretext": entry} and not live_lock.exists()


def test_a_benchmark_holds_its_stages_until_the_last_one_ends(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _declare(root, runs=[], bench={"digits": {"pipelines": ["kmeans"], "seeds": [7]},
                                   "mnist-parquet": {"pipelines": ["kmeans"], "seeds": [0]}})
    sync(root)
    stage_file = root / "pipelines/bench/digits/seed7/dvc.yaml"
    adhoc = root / "pipelines/bench/digits/seed8/dvc.yaml"
    with materialised(root, tables=("digits",)):
        assert stage_file.exists() and not adhoc.exists()
        assert not list((root / "pipelines/bench/mnist-parquet").rglob("dvc.yaml"))  # only what this one needs
        assert "bench-digits:" in (root / "pipelines/bench/dvc.yaml").read_text()
        with materialised(root, extra=(Run("digits", ("scan",), (8,)),)):  # an ad-hoc table at the same time
            assert stage_file.exists() and "stages.scan" in adhoc.read_text()
            assert sync(root) == [] and stale_files(root) == []  # a sync meanwhile leaves them alone
        assert stage_file.exists() and not adhoc.exists()
    assert not stage_file.exists() and stale_files(root) == []
    dead = root / HOLDERS / "999999999-dead.json"  # a benchmark killed before it could clean up
    dead.write_text('{"tables": ["digits"], "runs": []}')
    sync(root, bench=True)
    assert sync(root) and not stage_file.exists() and not dead.exists()


def test_a_run_only_a_benchmark_asks_for_is_declared_so_that_its_stage_file_exists(tmp_path: Path) -> None:
    root = _copy(tmp_path)  # bench.mnist-parquet asks for every pipeline x seeds 0-2; main asks for digits only
    ensure_asked("deepcluster", "mnist-parquet", [1], root)
    assert "  - {dataset: mnist-parquet, pipelines: [deepcluster], seeds: [1]}" in (root / "params.yaml").read_text()
    assert "deepcluster:" in (root / "pipelines/mnist-parquet/seed1/dvc.yaml").read_text()


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

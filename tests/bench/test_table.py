"""The table's commit stamp: a run's own dvc.lock updates do not mark it `+changes`, code edits do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from deepclust.bench.table import _git_commit


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_commit_stamp_ignores_dvc_lock(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "pipelines").mkdir()
    for name in ("dvc.lock", "pipelines/dvc.lock", "code.py"):
        (tmp_path / name).write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert _git_commit(tmp_path) == head

    (tmp_path / "dvc.lock").write_text("b\n")
    (tmp_path / "pipelines/dvc.lock").write_text("b\n")
    assert _git_commit(tmp_path) == head

    (tmp_path / "code.py").write_text("b\n")
    assert _git_commit(tmp_path) == f"{head}+changes"


def test_commit_stamp_outside_git(tmp_path: Path) -> None:
    assert _git_commit(tmp_path / "missing") == "unknown"


def test_budget_curves_show_the_acc_reached_within_each_budget() -> None:
    from deepclust.bench.table import Run, curves_markdown

    curve = ((2, 3.0, 0.5), (3, 6.0, 0.7), (5, 12.0, 0.9), (6, 25.0, 0.95))
    runs = [Run("iic", 1, {"acc": 0.95, "nmi": 0.9, "ari": 0.9}, curve=curve, curve_stage="iic"),
            Run("kmeans", 0, {"acc": 0.5, "nmi": 0.5, "ari": 0.4})]
    lines = curves_markdown(runs)
    row = next(line for line in lines if line.startswith("| iic |"))
    assert row.startswith("| iic | 1 | iic | 0.500 | 0.700 | 0.900 | 0.950 |") and "6: 0.950 (25.0)" in row
    assert not any(line.startswith("| kmeans |") for line in lines)  # a run without a curve has no row
    assert curves_markdown(runs[1:]) == []


def test_scored_curves_outlive_their_run_directory_while_the_stage_metrics_stay_the_same(tmp_path: Path) -> None:
    from deepclust.bench.table import Run
    from stages.bench import _kept_curve, read_scored_curves, scored_curves

    stage = tmp_path / "seed1" / "iic"
    stage.mkdir(parents=True)
    (stage / "metrics.json").write_text('{"seconds": 10}')
    curve = ((2, 0.5, 0.4), (3, 1.0, 0.6))
    runs = [Run("iic", 1, {"acc": 0.6, "nmi": 0.5, "ari": 0.4}, curve=curve, curve_stage="iic"),
            Run("kmeans", 1, {"acc": 0.5, "nmi": 0.4, "ari": 0.3})]
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(scored_curves(runs, tmp_path)))
    kept = read_scored_curves(path)
    assert set(kept) == {"iic/1"}
    assert _kept_curve(kept["iic/1"], tmp_path / "seed1") == {"curve": curve, "curve_stage": "iic"}
    (stage / "metrics.json").write_text('{"seconds": 11}')  # the stage ran again: its old curve is not its own
    assert _kept_curve(kept["iic/1"], tmp_path / "seed1") == {}
    path.write_text("{not json")
    assert read_scored_curves(path) == {} and read_scored_curves(tmp_path / "none.json") == {}


def test_a_stage_off_its_devices_default_precision_shows_it_in_the_device_column() -> None:
    from stages.bench import _device

    assert _device({"device": "cpu", "precision": "fp32"}) == "cpu"
    assert _device({"device": "cpu"}) == "cpu"  # metrics written before precision was recorded
    assert _device({"device": "cpu", "precision": "bf16"}) == "cpu bf16"  # DEEPCLUST_AMP=bf16: not the CPU rows
    assert _device({"device": "cuda:0", "precision": "bf16"}) == "cuda:0"
    assert _device({"device": "cuda", "precision": "fp32"}) == "cuda fp32"

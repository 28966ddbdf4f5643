"""Plain DVC on the toy project: what the Prefect layer relies on (skip/run, params, exp, metrics)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from toy_project import clear_runs_log, dvc, runs_log

pytestmark = pytest.mark.orchestration


def set_b_x(root: Path, value: int) -> None:
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("x: 2", f"x: {value}"))


def test_repro_runs_all_then_nothing(toy_project: Path) -> None:
    dvc(toy_project, "repro")
    assert runs_log(toy_project) == ["a@toy", "b@toy", "c@toy"]
    clear_runs_log(toy_project)
    start = time.perf_counter()
    out = dvc(toy_project, "repro").stdout
    elapsed = time.perf_counter() - start
    print(f"\nno-op `dvc repro` (3 stages up to date): {elapsed:.2f} s")
    assert "Data and pipelines are up to date" in out
    assert runs_log(toy_project) == []


def test_param_change_reruns_only_downstream(toy_project: Path) -> None:
    dvc(toy_project, "repro")
    clear_runs_log(toy_project)
    set_b_x(toy_project, 10)
    dvc(toy_project, "repro")
    assert runs_log(toy_project) == ["b@toy", "c@toy"]
    assert json.loads((toy_project / "out/c_toy_metrics.json").read_text())["acc"] == pytest.approx(0.14)


def test_exp_run_set_param_and_metrics_show(toy_project: Path) -> None:
    dvc(toy_project, "exp", "run", "-S", "b.toy.x=5")
    assert "x: 5" in (toy_project / "params.yaml").read_text()
    assert json.loads((toy_project / "out/b_toy.json").read_text())["value"] == 6
    shown = json.loads(dvc(toy_project, "metrics", "show", "--json").stdout)
    assert shown[""]["data"]["out/c_toy_metrics.json"]["data"]["acc"] == pytest.approx(0.09)
    assert "acc" in dvc(toy_project, "metrics", "show").stdout

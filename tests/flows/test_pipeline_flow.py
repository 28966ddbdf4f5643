"""run_pipeline against a real Prefect test server and a real DVC project."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from toy_project import clear_runs_log, dvc, experiments, runs_log

from flows.pipeline import run_pipeline
from flows.workspace import RUNS_DIR, open_workspace
from tasks.dvc_stage import repro_stage

pytestmark = pytest.mark.orchestration

ALL = ["a@toy", "b@toy", "c@toy"]


def run_toy(root: Path, **kwargs: object) -> dict:
    clear_runs_log(root)
    start = time.perf_counter()
    result = run_pipeline(pipeline="toy", dataset="toy", root=str(root), **kwargs)
    print(f"\nrun_pipeline({kwargs or ''}) -> {result['stages']} in {time.perf_counter() - start:.2f} s")
    return result


def assert_metrics_artifacts() -> None:
    """The table and markdown artifacts of the toy pipeline exist on the server and carry acc."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["toy-toy-metrics", "toy-toy-metrics-report"])
            )
        )
    by_type = {artifact.type: artifact for artifact in artifacts}
    assert set(by_type) == {"table", "markdown"}
    assert "acc" in str(by_type["table"].data) and "c@toy" in str(by_type["table"].data)
    assert "| c@toy | acc | 0.06 |" in str(by_type["markdown"].data)


def test_runs_all_then_skips_all_and_publishes_metrics(toy_project: Path) -> None:
    first = run_toy(toy_project)
    assert first["stages"] == {stage: "ran" for stage in ALL}
    assert first["metrics"] == {"c@toy": {"acc": pytest.approx(0.06), "loss.total": 1.0}}
    assert runs_log(toy_project) == ALL
    assert_metrics_artifacts()
    second = run_toy(toy_project)
    assert second["stages"] == {stage: "skipped" for stage in ALL}
    assert runs_log(toy_project) == []


def test_overrides_run_as_experiment_and_leave_params_yaml_alone(toy_project: Path) -> None:
    run_toy(toy_project)
    before = (toy_project / "params.yaml").read_bytes()
    result = run_toy(toy_project, overrides={"b.toy.x": 7})
    assert result["stages"] == {"a@toy": "skipped", "b@toy": "ran", "c@toy": "ran"}
    assert result["params"] == {"a.toy": {"x": 1}, "b.toy": {"x": 7}, "c.toy": {"x": 3}}
    assert result["metrics"]["c@toy"]["acc"] == pytest.approx(0.11)
    assert (toy_project / "params.yaml").read_bytes() == before
    assert runs_log(toy_project) == []  # nothing ran in the checkout
    saved = experiments(toy_project)[result["experiment"]]
    assert saved["params"]["b"]["toy"]["x"] == 7
    assert saved["metrics"]["out/c_toy_metrics.json"]["acc"] == pytest.approx(0.11)
    assert not (toy_project / RUNS_DIR / result["experiment"]).exists()  # saved, then removed
    again = run_toy(toy_project)  # the checkout is still up to date
    assert again["stages"] == {stage: "skipped" for stage in ALL} and again["experiment"] is None


def test_override_run_started_again_continues_in_its_worktree(toy_project: Path) -> None:
    """A run that stopped after b@toy (killed, failed) left its worktree; the same overrides continue there."""
    run_toy(toy_project)
    overrides = {"b.toy.x": 8}
    workspace, name = open_workspace(str(toy_project), overrides)  # what the stopped run had done first
    dvc(Path(workspace), "repro", "-s", "b@toy")
    result = run_toy(toy_project, overrides=overrides)
    assert result["experiment"] == name
    assert result["stages"] == {"a@toy": "skipped", "b@toy": "skipped", "c@toy": "ran"}
    assert result["metrics"]["c@toy"]["acc"] == pytest.approx(0.12)


def test_to_stage_stops_after_it(toy_project: Path) -> None:
    result = run_toy(toy_project, to_stage="b")
    assert result["stages"] == {"a@toy": "ran", "b@toy": "ran"}
    assert runs_log(toy_project) == ["a@toy", "b@toy"]


def test_unknown_override_key_fails_before_any_stage(toy_project: Path) -> None:
    before = (toy_project / "params.yaml").read_text()
    with pytest.raises(ValueError, match="unknown params key 'b.toy.nope'"):
        run_toy(toy_project, overrides={"b.toy.x": 9, "b.toy.nope": 1})
    assert (toy_project / "params.yaml").read_text() == before
    assert runs_log(toy_project) == []


def test_unknown_pipeline_lists_known(toy_project: Path) -> None:
    with pytest.raises(ValueError, match="known: toy/toy"):
        run_pipeline(pipeline="scan", dataset="toy", root=str(toy_project))


def test_from_stage_forces_it_and_downstream(toy_project: Path) -> None:
    run_toy(toy_project)
    result = run_toy(toy_project, from_stage="b")
    assert result["stages"] == {"a@toy": "skipped", "b@toy": "ran", "c@toy": "ran"}
    assert runs_log(toy_project) == ["b@toy", "c@toy"]


def test_prefect_timeout_kills_stage_process_group(toy_project: Path) -> None:
    """A real Prefect task timeout (exception injected into the worker thread) kills dvc and its children."""

    @flow
    def sleeper_flow(root: str) -> str:
        return repro_stage.with_options(timeout_seconds=4, retries=0).submit("sleeper", root).result()

    with pytest.raises(TimeoutError, match="timed out after 4"):
        sleeper_flow(str(toy_project))
    stage_pid, child_pid = map(int, (toy_project / "sleeper.pids").read_text().split())
    time.sleep(0.5)
    for pid in (stage_pid, child_pid):
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", (
            f"pid {pid} survived"
        )

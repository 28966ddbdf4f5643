"""End to end as a user runs it: `prefect server start`, `python -m flows.serve`, `prefect deployment run`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prefect_api import SKIPPING, Server, api, delete_deployment, deployment_run, flow_run_log, serving
from real_project import SCAN_DIGITS, UP_TO_DATE, Built, copy_real_project, dvc_out, ran_stages
from toy_project import clear_runs_log, dvc, runs_log

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(600)]

def test_deployment_run_watch_completes(server: Server, toy_project: Path, tmp_path: Path) -> None:
    serve_log = tmp_path / "serve.log"
    with serving(server, toy_project, "deepclust/toy-toy", serve_log) as env:
        flow_run, watch_seconds = deployment_run(env, "deepclust/toy-toy", serve_log=serve_log)
    assert flow_run["state_type"] == "COMPLETED", flow_run["state"]
    assert runs_log(toy_project) == ["a@toy", "b@toy", "c@toy"]

    # Same three stages, plain DVC, no Prefect.
    clear_runs_log(toy_project)
    start = time.perf_counter()
    dvc(toy_project, "repro", "-f")
    dvc_seconds = time.perf_counter() - start
    assert runs_log(toy_project) == ["a@toy", "b@toy", "c@toy"]
    flow_seconds = float(flow_run["total_run_time"])
    in_flow, end_to_end = (flow_seconds - dvc_seconds) / 3, (watch_seconds - dvc_seconds) / 3
    print(
        f"\ntoy: deployment run --watch: {watch_seconds:.1f} s wall; flow run {flow_seconds:.1f} s; "
        f"plain `dvc repro -f`: {dvc_seconds:.1f} s; Prefect overhead per stage: "
        f"{in_flow:.2f} s in the flow, {end_to_end:.2f} s end to end"
    )


def test_scan_digits_deployment_on_real_stages(server: Server, real_template: Built, tmp_path: Path) -> None:
    """The real digits pipeline (tiny params, already reproduced): run, metrics artifact, then overrides."""
    root = copy_real_project(real_template.root, tmp_path / "deepclust")
    assert UP_TO_DATE in dvc_out(root, "repro")  # also re-hashes the copy's outs once
    start = time.perf_counter()
    assert UP_TO_DATE in dvc_out(root, "repro")
    noop_seconds = time.perf_counter() - start
    serve_log = tmp_path / "serve.log"
    params_before = (root / "params.yaml").read_bytes()
    delete_deployment(server.url, "deepclust/scan-digits")  # test_scale_out's work-pool deployment has this name
    with serving(server, root, "deepclust/scan-digits", serve_log) as env:
        first, first_wall = deployment_run(env, "deepclust/scan-digits", serve_log=serve_log)
        assert first["state_type"] == "COMPLETED", first["state"]
        first_log = flow_run_log(server.url, first["id"], 7)
        assert ran_stages(first_log) == [], first_log  # all 7 up to date: DVC skipped each one
        assert first_log.count(SKIPPING) == 7, first_log
        artifacts = api(server.url, "/artifacts/filter",
                        {"artifacts": {"key": {"any_": ["scan-digits-metrics"]},
                                      "flow_run_id": {"any_": [first["id"]]}}})  # the server is the session's
        assert isinstance(artifacts, list) and artifacts, "no scan-digits-metrics artifact"
        assert artifacts[0]["type"] == "table" and artifacts[0]["flow_run_id"] == first["id"]
        data = artifacts[0]["data"]
        rows = json.loads(data) if isinstance(data, str) else data
        terminal = "pipelines/digits/seed0/dvc.yaml:pretext-embed-mine-scan-selflabel-evaluate"
        headline = {row["metric"] for row in rows if row["stage"] == terminal and "." not in row["metric"]}
        assert rows[0]["stage"] == terminal and {"acc", "ari", "nmi", "split"} <= headline

        second, second_wall = deployment_run(
            env, "deepclust/scan-digits", "--param", 'overrides={"scan.digits.entropy_weight": 4}',
            serve_log=serve_log,
        )
        assert second["state_type"] == "COMPLETED", second["state"]
        second_log = flow_run_log(server.url, second["id"], 7)
        assert ran_stages(second_log) == SCAN_DIGITS[4:], second_log  # scan, selflabel, evaluate
        assert second_log.count(SKIPPING) == 4, second_log
    # The override ran in its own worktree and was saved as an experiment: the checkout is as it was.
    assert (root / "params.yaml").read_bytes() == params_before
    assert UP_TO_DATE in dvc_out(root, "repro")
    first_flow = float(first["total_run_time"])
    print(
        f"\nscan-digits, 7 stages up to date: deployment run --watch {first_wall:.1f} s wall, flow run "
        f"{first_flow:.1f} s; plain no-op `dvc repro` {noop_seconds:.2f} s; Prefect overhead per stage "
        f"{(first_flow - noop_seconds) / 7:.2f} s in the flow, {(first_wall - noop_seconds) / 7:.2f} s end to end"
        f"\nscan-digits with overrides (scan, selflabel, evaluate ran): {second_wall:.1f} s wall, flow run "
        f"{float(second['total_run_time']):.1f} s"
    )

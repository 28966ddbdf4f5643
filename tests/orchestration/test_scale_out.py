"""Runs that do not clobber each other, two machines through a DVC remote, a work pool, resume after a kill.

Real `prefect server start` (the session's), real `prefect worker start` on a process work pool, the real
stages on tiny digits params. Deployments come from `python -m flows.deploy`, as docs/scale-out.md says.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect_api import BIN, REPO, Server, api, delete_deployment, flow_run_log, process_group
from real_project import (
    PRETEXT_EPOCH,
    RESUMING,
    SCAN_DIGITS,
    Built,
    copy_real_project,
    dvc_out,
    make_real_project,
    tiny_params,
)
from toy_project import experiments, sh

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(600)]

POOL = "test-pool"
PRETEXT = "pipelines/digits/seed0/dvc.yaml:pretext"
RUNNING_SCAN = "Running stage 'pipelines/digits/seed0/dvc.yaml:pretext-embed-mine-scan'"
RUNNING_SELFLABEL = "Running stage 'pipelines/digits/seed0/dvc.yaml:pretext-embed-mine-scan-selflabel'"
EPOCHS = 8  # pretext epochs of the cancelled run: about 2 s each here (cancelled after 2)


@pytest.fixture(scope="module")
def worker(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`prefect work-pool create POOL --type process` + `prefect worker start --pool POOL`; yields its log."""
    sh([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", "--overwrite"], REPO,
       env=server.env)
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**server.env, "PREFECT_WORKER_QUERY_SECONDS": "1"}  # default 10 s: runs would wait for the poll
    with process_group([str(BIN / "prefect"), "worker", "start", "--pool", POOL], REPO, env, log) as proc:
        deadline = time.monotonic() + 60
        while not api(server.url, f"/work_pools/{POOL}/workers/filter", {}):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
        yield log


@pytest.fixture(autouse=True)
def _no_leftover_deployment(server: Server) -> Iterator[None]:
    """Each test deploys its own `deepclust/scan-digits`; none outlives it (test_deployment_e2e serves one)."""
    delete_deployment(server.url, "deepclust/scan-digits")
    yield
    delete_deployment(server.url, "deepclust/scan-digits")


def deploy(server: Server, root: Path) -> None:
    """`python -m flows.deploy --pool POOL --only scan-digits`, run from ROOT's own copy of the code."""
    sh([sys.executable, "-m", "flows.deploy", "--pool", POOL, "--only", "scan-digits"], root, env=server.env)


def start_run(server: Server, *params: str) -> subprocess.Popen[str]:
    """`prefect deployment run deepclust/scan-digits --param ... --watch`, not waited for."""
    args = [str(BIN / "prefect"), "deployment", "run", "deepclust/scan-digits", "--watch", "--watch-timeout", "240"]
    for param in params:
        args += ["--param", param]
    return subprocess.Popen(args, cwd=REPO, env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def create_run(server: Server, *params: str) -> str:
    """`prefect deployment run deepclust/scan-digits --param ...` (returns once created); the flow run id."""
    args = [str(BIN / "prefect"), "deployment", "run", "deepclust/scan-digits"]
    for param in params:
        args += ["--param", param]
    return flow_run_id(sh(args, REPO, env=server.env).stdout)


def wait_state(server: Server, run_id: str, states: set[str], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        run = api(server.url, f"/flow_runs/{run_id}")
        assert isinstance(run, dict)
        if run["state_type"] in states:
            return run
        assert time.monotonic() < deadline, f"flow run still {run['state_type']} after {seconds} s"
        time.sleep(0.5)


def stage_processes(root: Path) -> list[int]:
    """Pids of processes working in ROOT (dvc, the stage cmd)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cwd").resolve() == root.resolve():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def flow_run_id(output: str) -> str:
    for line in output.splitlines():
        if "UUID:" in line:
            return line.split("UUID:")[1].strip()
    raise AssertionError(f"no flow run id in:\n{output}")


def report(server: Server, run_id: str) -> str:
    """The markdown metrics report the flow run published (its params section included)."""
    found = api(server.url, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert isinstance(found, list)
    return next(str(a["data"]) for a in found if a["type"] == "markdown")


def test_two_override_runs_at_once_keep_their_own_params(
    server: Server, worker: Path, real_template: Built, tmp_path: Path
) -> None:
    root = copy_real_project(real_template.root, tmp_path / "deepclust")
    before = (root / "params.yaml").read_bytes()
    deploy(server, root)
    # selflabel's batch size: only selflabel-scan and evaluate-scan re-run, each in its run's own worktree
    sizes = (64, 128)
    start = time.perf_counter()
    procs = [start_run(server, f'overrides={{"selflabel.digits.batch_size": {size}}}') for size in sizes]
    outputs, walls = [], []
    for proc in procs:
        outputs.append(proc.communicate(timeout=280)[0])
        walls.append(time.perf_counter() - start)
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"{out}\nworker log:\n{worker.read_text(errors='replace')[-4000:]}"
    runs = [api(server.url, f"/flow_runs/{flow_run_id(out)}") for out in outputs]
    assert all(isinstance(r, dict) and r["state_type"] == "COMPLETED" for r in runs)
    # Both ran at once: each started before the other ended.
    assert runs[0]["start_time"] < runs[1]["end_time"] and runs[1]["start_time"] < runs[0]["end_time"]  # type: ignore[index]
    assert (root / "params.yaml").read_bytes() == before
    saved = experiments(root)
    for size, run, wall in zip(sizes, runs, walls, strict=True):
        assert isinstance(run, dict)
        text = report(server, run["id"])
        assert f'"batch_size": {size}' in text, text  # the run's own params in its report
        log = flow_run_log(server.url, run["id"], 7)
        assert RUNNING_SELFLABEL in log and f"Stage '{PRETEXT}' didn't change" in log, log
        assert RUNNING_SCAN not in log, log
        [exp] = [e for e in saved.values() if e["params"]["selflabel"]["digits"]["batch_size"] == size]
        acc = exp["metrics"]["data/digits/seed0/pretext-embed-mine-scan-selflabel-evaluate/metrics.json"]["acc"]
        assert 0.0 <= acc <= 1.0
        print(f"\nselflabel.digits.batch_size={size}: wall {wall:.1f} s, flow run "
              f"{run['total_run_time']:.1f} s ({run['start_time'][11:19]} to {run['end_time'][11:19]}), acc {acc}")
    assert "Data and pipelines are up to date." in dvc_out(root, "repro")  # the checkout untouched


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_two_clones_share_a_remote(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clone A runs prepare + pretext and pushes; clone B pulls and runs the rest without recomputing pretext."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.pipeline import run_pipeline

    a = make_real_project(tmp_path / "a")
    dvc_out(a, "remote", "add", "shared", str(tmp_path / "remote"))
    sh(["git", "commit", "-qam", "DVC remote"], a)
    sh(["git", "clone", "-q", str(a), str(tmp_path / "b")], tmp_path)
    b = tmp_path / "b"
    with temporary_settings(updates={PREFECT_API_URL: server.url}):
        start = time.perf_counter()
        first = run_pipeline(pipeline="scan", dataset="digits", to_stage="pretext", remote="shared", root=str(a))
        a_seconds = time.perf_counter() - start
        assert first["stages"] == {"pipelines/digits/dvc.yaml:prepare": "ran", PRETEXT: "ran"}
        sh(["git", "add", "-A"], a)  # dvc.lock travels with git, the data with the DVC remote
        sh(["git", "commit", "-qm", "pretext on machine A"], a)
        sh(["git", "pull", "-q"], b)
        start = time.perf_counter()
        second = run_pipeline(pipeline="scan", dataset="digits", remote="shared", root=str(b))
        b_seconds = time.perf_counter() - start
    assert second["stages"][PRETEXT] == "skipped" and second["stages"]["pipelines/digits/dvc.yaml:prepare"] == "skipped"
    assert [s for s, v in second["stages"].items() if v == "ran"] == [
        a for a in SCAN_DIGITS if a not in (PRETEXT, "pipelines/digits/dvc.yaml:prepare")]
    model = "data/digits/seed0/pretext/model.pt"
    assert _md5(b / model) == _md5(a / model)  # A's bytes, pulled
    assert "Data and pipelines are up to date." in dvc_out(b, "status", PRETEXT)
    pushed = dvc_out(b, "status", "--cloud", "--remote", "shared", SCAN_DIGITS[-1])
    assert "Cache and remote 'shared' are in sync." in pushed
    print(f"\nclone A (prepare + pretext, push): {a_seconds:.1f} s; clone B (pull, 5 stages, push): {b_seconds:.1f} s; "
          f"B: {second['stages']}")


def _epochs_done(root: Path) -> int:
    # The checkpoint's per-epoch log (the progress bar reaches the Prefect log only when its line ends).
    log = root / "data/digits/seed0/pretext/run/log.csv"
    return max(0, len(log.read_text().splitlines()) - 1) if log.exists() else 0


def test_killed_deployment_run_resumes_pretext(server: Server, worker: Path, tmp_path: Path) -> None:
    """Cancel a worker's flow run during pretext (the API's cancel: the worker kills it), run it again."""
    root = make_real_project(tmp_path / "deepclust", tiny_params(pretext_epochs=EPOCHS))
    deploy(server, root)
    run_id = create_run(server, "to_stage=pretext")
    deadline = time.monotonic() + 150
    while _epochs_done(root) < 2:
        assert time.monotonic() < deadline, f"pretext never reached epoch 2: {api(server.url, f'/flow_runs/{run_id}')}"
        time.sleep(0.2)
    killed_at = _epochs_done(root)
    api(server.url, f"/flow_runs/{run_id}/set_state", {"state": {"type": "CANCELLING"}, "force": True})
    wait_state(server, run_id, {"CANCELLED"}, 60)
    deadline = time.monotonic() + 20  # the stage's supervisor gives it a 10 s grace after SIGTERM
    while stage_processes(root):
        assert time.monotonic() < deadline, "the worker's cancel left stage processes behind"
        time.sleep(0.5)
    checkpoint = root / "data/digits/seed0/pretext/run"
    assert checkpoint.exists() and not (root / "data/digits/seed0/pretext/model.pt").exists()

    start = time.perf_counter()
    again = start_run(server, "to_stage=pretext")
    out = again.communicate(timeout=200)[0]
    assert again.returncode == 0, f"{out}\nworker log:\n{worker.read_text(errors='replace')[-4000:]}"
    log = flow_run_log(server.url, flow_run_id(out), 2)
    match = RESUMING.search(log)
    assert match and int(match.group(1)) >= 1, log
    assert "Stage 'pipelines/digits/dvc.yaml:prepare' didn't change" in log
    trained = [int(e) for e in PRETEXT_EPOCH.findall(log)]
    assert trained and trained[-1] == EPOCHS and min(trained) > int(match.group(1)), log
    print(f"\ncancelled after epoch {killed_at} was checkpointed; the re-run printed `{match.group(0)}` and finished "
          f"in {time.perf_counter() - start:.1f} s")

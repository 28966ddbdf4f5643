"""End to end as a user runs it: `prefect server start`, `python -m flows.serve`, `prefect deployment run`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from toy_project import clear_runs_log, dvc, runs_log, venv_env

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(url: str, path: str, body: dict | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(url: str, path: str, what: str, seconds: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            api(url, path)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            assert proc.poll() is None, f"{what}: process exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{what}: not up after {seconds} s"
            time.sleep(0.5)


@contextmanager
def process_group(
    args: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Starts ARGS in its own session; on exit kills the whole group (SIGTERM, then SIGKILL)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                continue


def test_deployment_run_watch_completes(toy_project: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **venv_env(),
        "PREFECT_HOME": str(tmp_path / "prefect_home"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "DEEPCLUST_ROOT": str(toy_project),
    }
    server_args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process_group(server_args, REPO, env, tmp_path / "server.log") as server:
        start = time.perf_counter()
        wait_for(url, "/health", "prefect server", 120, server)
        print(f"\nserver up in {time.perf_counter() - start:.1f} s")
        serve_args = [sys.executable, "-m", "flows.serve"]
        with process_group(serve_args, REPO, env, tmp_path / "serve.log") as serve:
            wait_for(url, "/deployments/name/deepclust/toy-toy", "serve", 120, serve)
            start = time.perf_counter()
            run = subprocess.run(
                [
                    str(BIN / "prefect"),
                    "deployment",
                    "run",
                    "deepclust/toy-toy",
                    "--watch",
                    "--watch-timeout",
                    "180",
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            watch_seconds = time.perf_counter() - start
            logs = (tmp_path / "serve.log").read_text(errors="replace")[-4000:]
            assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\nserve log:\n{logs}"
            runs = api(url, "/flow_runs/filter", {"limit": 10})
    assert isinstance(runs, list) and len(runs) == 1
    flow_run = runs[0]
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
        f"deployment run --watch: {watch_seconds:.1f} s wall; flow run {flow_seconds:.1f} s; "
        f"plain `dvc repro -f`: {dvc_seconds:.1f} s; Prefect overhead per stage: "
        f"{in_flow:.2f} s in the flow, {end_to_end:.2f} s end to end"
    )
    with socket.socket() as sock:  # the server is gone, its port free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0

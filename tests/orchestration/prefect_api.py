"""A real Prefect API server as a user runs it (`prefect server start`), and helpers to drive it over HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from real_project import ran_stages
from toy_project import venv_env

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SKIPPING = "didn't change, skipping"  # `dvc repro -s` on an up-to-date stage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(url: str, path: str, body: dict | None = None, method: str | None = None, attempts: int = 5) -> object:
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(attempts):
        request = urllib.request.Request(f"{url}{path}", data=data, headers={"Content-Type": "application/json"},
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            # The server answers 503 while its SQLite database is locked by another writer (a served flow's
            # heartbeat): seen once in CI on a deployment DELETE. Anything else, or a lasting 503, is an error.
            if exc.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(1.0 + attempt)
    raise AssertionError("unreachable")


def delete_deployment(url: str, name: str) -> None:
    """Removes deployment NAME (`flow/deployment`) if it exists: served and work-pool deployments share names,
    and the session's server outlives each test module."""
    try:
        found = api(url, f"/deployments/name/{name}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return
        raise
    assert isinstance(found, dict)
    api(url, f"/deployments/{found['id']}", method="DELETE")


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


@dataclass
class Server:
    url: str
    port: int
    env: dict[str, str]
    home: Path


@contextmanager
def serving(server: Server, root: Path, deployment: str, log: Path) -> Iterator[dict[str, str]]:
    """`python -m flows.serve` with DEEPCLUST_ROOT=ROOT, until DEPLOYMENT is registered."""
    env = {**server.env, "DEEPCLUST_ROOT": str(root)}
    with process_group([sys.executable, "-m", "flows.serve"], REPO, env, log) as proc:
        wait_for(server.url, f"/deployments/name/{deployment}", "serve", 120, proc)
        yield env


def deployment_run(env: dict[str, str], name: str, *extra: str, serve_log: Path) -> tuple[dict, float]:
    """`prefect deployment run NAME --watch EXTRA...`; asserts exit 0, returns (flow run, wall seconds)."""
    start = time.perf_counter()
    run = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", name, *extra, "--watch", "--watch-timeout", "400"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=480,
    )
    seconds = time.perf_counter() - start
    logs = serve_log.read_text(errors="replace")[-4000:]
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\nserve log:\n{logs}"
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout)
    assert flow_run_id, run.stdout
    flow_run = api(env["PREFECT_API_URL"], f"/flow_runs/{flow_run_id.group(1)}")
    assert isinstance(flow_run, dict)
    return flow_run, seconds


def flow_run_log(url: str, flow_run_id: str, stages: int, seconds: float = 30) -> str:
    """Every log line of a flow run (task logs included: each `dvc repro -s` output line is one).

    Logs reach the API in batches, possibly after the state turned COMPLETED: wait until each of the
    STAGES tasks has logged either DVC's "Running stage" or its "didn't change, skipping".
    """
    deadline = time.monotonic() + seconds
    while True:
        lines: list[str] = []
        while True:
            body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC",
                    "limit": 200, "offset": len(lines)}
            page = api(url, "/logs/filter", body)
            assert isinstance(page, list)
            lines += [entry["message"] for entry in page]
            if len(page) < 200:
                break
        text = "\n".join(lines)
        if len(ran_stages(text)) + text.count(SKIPPING) >= stages or time.monotonic() > deadline:
            return text
        time.sleep(1.0)


@contextmanager
def start_server(home: Path) -> Iterator[Server]:
    """`prefect server start` on a free port with its own PREFECT_HOME under HOME, until the block exits."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **venv_env(),
        "PREFECT_HOME": str(home / "prefect_home"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    }
    server_args = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with process_group(server_args, REPO, env, home / "server.log") as proc:
        start = time.perf_counter()
        wait_for(url, "/health", "prefect server", 120, proc)
        print(f"\nserver up in {time.perf_counter() - start:.1f} s")
        yield Server(url, port, env, home)
    with socket.socket() as sock:  # the server is gone, its port free again
        assert sock.connect_ex(("127.0.0.1", port)) != 0

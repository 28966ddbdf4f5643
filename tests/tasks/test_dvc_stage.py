"""The repro_stage task body (via `.fn`) on a real DVC project: run/skip, failure, process-group kill."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from toy_project import runs_log

from tasks.dvc_stage import repro_stage


def alive(pid: int) -> bool:
    """True while PID exists and is not a zombie (an unreaped dead child still answers kill(pid, 0))."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_members(pgid: int) -> list[int]:
    """Live pids whose process group is PGID."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_for_sleeper(root: Path) -> tuple[int, int]:
    """Pids of the sleeper stage cmd and its `sleep 60` child, once both exist."""
    pids_file = root / "sleeper.pids"
    deadline = time.monotonic() + 30
    while not pids_file.exists() or not pids_file.read_text().endswith("\n"):
        assert time.monotonic() < deadline, "sleeper stage never started"
        time.sleep(0.1)
    stage_pid, child_pid = map(int, pids_file.read_text().split())
    return stage_pid, child_pid


def test_runs_then_skips(toy_project: Path) -> None:
    root = str(toy_project)
    assert repro_stage.fn("a@toy", root) == "ran"
    assert repro_stage.fn("a@toy", root) == "skipped"
    assert repro_stage.fn("a@toy", root, force=True) == "ran"
    assert runs_log(toy_project) == ["a@toy", "a@toy"]


def test_stage_python_is_this_interpreter_without_activated_venv(
    toy_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage cmd `python ...` runs this venv's python even when PATH lacks the venv (no `activate`)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert repro_stage.fn("whichpy", str(toy_project)) == "ran"
    used = Path((toy_project / "which_python.txt").read_text())
    assert used.parent == Path(sys.executable).parent, used


def test_single_stage_never_runs_upstream(toy_project: Path) -> None:
    # `-s` only: with a@toy never run, b@toy fails on its missing dep instead of running a@toy.
    with pytest.raises(RuntimeError, match="stage b@toy failed"):
        repro_stage.fn("b@toy", str(toy_project))
    assert runs_log(toy_project) == []


def test_failing_stage_names_stage_and_exit_code(toy_project: Path) -> None:
    with pytest.raises(RuntimeError) as info:
        repro_stage.fn("fail", str(toy_project))
    message = str(info.value)
    assert "stage fail failed" in message
    assert "exited with 3" in message  # the stage cmd's own code, from DVC's error line
    assert "exited with code 255" in message  # dvc's code


def test_cancellation_kills_the_process_group(toy_project: Path) -> None:
    """Prefect cancels/times out a sync task by raising inside its thread; the whole stage group must die."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            repro_stage.fn("sleeper", str(toy_project))
        except BaseException as exc:  # noqa: BLE001 - the test inspects what was raised
            outcome["exc"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    stage_pid, child_pid = wait_for_sleeper(toy_project)
    pgid = int(Path(f"/proc/{stage_pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    assert (
        alive(stage_pid) and alive(child_pid) and len(group_members(pgid)) >= 4
    )  # supervisor, dvc, stage, sleep

    start = time.monotonic()
    # The same call Prefect's timeout/cancel scope makes (prefect/_internal/concurrency/cancellation.py).
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(TimeoutError))
    worker.join(timeout=20)
    print(f"\nkill path took {time.monotonic() - start:.2f} s")

    assert not worker.is_alive()
    assert isinstance(outcome.get("exc"), TimeoutError)
    assert not alive(stage_pid) and not alive(child_pid)
    assert group_members(pgid) == []


def test_killed_flow_process_takes_the_stage_down(toy_project: Path) -> None:
    """SIGKILL of the process running the task (Prefect's hard kill on cancel) must not orphan the stage."""
    script = f"from tasks.dvc_stage import repro_stage; repro_stage.fn('sleeper', {str(toy_project)!r})"
    runner = subprocess.Popen([sys.executable, "-c", script])
    try:
        stage_pid, child_pid = wait_for_sleeper(toy_project)
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 15
        while alive(stage_pid) or alive(child_pid):
            assert time.monotonic() < deadline, "stage outlived the process that ran it"
            time.sleep(0.1)
    finally:
        runner.kill()

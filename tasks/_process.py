"""Process-group plumbing for stage subprocesses: stream output, and kill the whole group on any exit path."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

SUPERVISOR = str(Path(__file__).with_name("_supervise.py"))
_POLL_SECONDS = 0.2  # how often the reading thread runs bytecode, so Prefect's injected timeouts land
_EXIT_DRAIN_SECONDS = 2.0  # after the leader exits, how long its last lines may take to arrive
_LIVE: set[int] = set()  # process groups started here and not yet reaped


def kill_group(pgid: int, grace_seconds: float = 10.0, proc: subprocess.Popen[str] | None = None) -> None:
    """SIGTERM the group, wait up to GRACE_SECONDS for its leader, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM and proc is not None:
            try:
                proc.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                pass


@contextmanager
def process_group(args: list[str], cwd: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """Starts ARGS in a new session; any exception (cancel, timeout, error) here kills the whole group.

    The session leader is a small supervisor that also kills the group when this process dies (even SIGKILL).
    """
    proc = subprocess.Popen(
        [sys.executable, SUPERVISOR, str(os.getpid()), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    _LIVE.add(proc.pid)
    try:
        yield proc
    except BaseException:
        kill_group(proc.pid, proc=proc)
        raise
    finally:
        _LIVE.discard(proc.pid)
        # The leader may have exited while a grandchild it forgot still holds the group (and our pipe).
        if proc.poll() is not None:
            kill_group(proc.pid, grace_seconds=0.0)


@contextmanager
def stop_groups_on_sigterm() -> Iterator[None]:
    """While active, SIGTERM to this process first SIGTERMs every live stage group, then runs the old handler.

    A cancelled Prefect flow run gets SIGTERM; Prefect's handler then waits for the running tasks to finish,
    i.e. for the whole training stage, before the run counts as cancelled. Stopping the stages ends them
    now. Signal handlers belong to the main thread: elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        for pgid in list(_LIVE):
            try:
                os.killpg(pgid, signal.SIGTERM)  # the supervisor takes its group down
            except ProcessLookupError:
                pass
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # the default action: die by SIGTERM
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stream_lines(proc: subprocess.Popen[str], on_line: Callable[[str], None]) -> int:
    """Feeds each output line to ON_LINE until the process exits; returns its exit code.

    A helper thread does the blocking reads so this thread wakes every _POLL_SECONDS: an exception that
    Prefect injects into it (task timeout, cancellation) is then raised here instead of after the next line.
    """
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line.rstrip("\n"))
        lines.put(None)

    quiet_after_exit = 0
    threading.Thread(target=pump, daemon=True, name=f"stream-{proc.pid}").start()
    while True:
        try:
            line = lines.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            # Leader gone for a while but no EOF: a leftover grandchild holds the pipe; don't wait for it.
            quiet_after_exit = quiet_after_exit + 1 if proc.poll() is not None else 0
            if quiet_after_exit * _POLL_SECONDS >= _EXIT_DRAIN_SECONDS:
                return proc.wait()
            continue
        if line is None:
            return proc.wait()
        on_line(line)

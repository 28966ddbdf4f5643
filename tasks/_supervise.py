"""Session leader for one stage command: if the process that started it dies, take the whole group down.

Run as `python tasks/_supervise.py PARENT_PID CMD...` (by path: it must not need the package installed).
Without it, a SIGKILLed flow process (Prefect's hard kill after a cancel) would orphan `dvc` and the
stage cmd, which sit in their own session, and a training stage would keep its GPU.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h
GRACE_SECONDS = 10.0


def _take_group_down(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the killpg below reaches us too
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.1)
        except ChildProcessError:  # the stage is gone; stragglers reparented elsewhere get the SIGKILL
            break
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Runs CMD, forwarding its exit code; SIGTERM, or the parent's death, kills the whole group."""
    parent, cmd = int(argv[0]), argv[1:]
    signal.signal(signal.SIGTERM, _take_group_down)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # parent died before prctl took effect
        _take_group_down(signal.SIGTERM, None)
    code = subprocess.call(cmd)
    return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as a shell reports it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

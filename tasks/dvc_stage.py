"""The one generic task: reproduce a single DVC stage (DVC decides whether it runs or is skipped)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError

from tasks._process import process_group, stream_lines

SKIP_MARKER = "didn't change, skipping"  # what `dvc repro -s` prints for an up-to-date stage


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    # `.fn(...)` calls (tests, scripts) have no run context; fall back to a plain logger there.
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def repro_command(stage: str, force: bool = False) -> list[str]:
    """`dvc repro -s STAGE`, waiting for the repo lock rather than failing when another stage holds it."""
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "-s", *(["-f"] if force else []), stage]


def stage_commands(stage: str, force: bool = False, remote: str | None = None) -> list[list[str]]:
    """The repro command; with a DVC REMOTE, `dvc pull` of the stage's outs before it and `dvc push` after.

    The pull lets DVC skip a stage another machine ran (its dvc.lock entry came with git); outs the remote
    lacks are no error (`--allow-missing`): the stage then runs here, and the push shares its outs.
    """
    dvc = [sys.executable, "-m", "dvc", "--wait-for-lock"]
    if remote is None:
        return [repro_command(stage, force)]
    return [[*dvc, "pull", "--remote", remote, "--allow-missing", stage], repro_command(stage, force),
            [*dvc, "push", "--remote", remote, stage]]


def stage_env() -> dict[str, str]:
    """This environment, with this interpreter first on PATH so a stage's `python ...` cmd matches ours."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1"}  # unbuffered: log lines arrive live


# DVC is the cache (dvc.lock), so Prefect must not cache; retries cover a stale lock of a killed stage.
@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE, task_run_name="{stage}")
def repro_stage(stage: str, root: str, force: bool = False, remote: str | None = None) -> str:
    """Runs `dvc repro -s [-f] STAGE` in ROOT (between a pull and a push with REMOTE); "ran" or "skipped"."""
    logger = _logger()
    seen = {"skipped": False, "error": ""}

    def on_line(line: str) -> None:
        seen["skipped"] = seen["skipped"] or SKIP_MARKER in line
        if line.startswith("ERROR"):  # DVC's own summary names the stage cmd's exit code
            seen["error"] = line
        logger.info(line)

    for command in stage_commands(stage, force, remote):
        with process_group(command, cwd=root, env=stage_env()) as proc:
            code = stream_lines(proc, on_line)
        if code != 0:
            raise RuntimeError(
                f"stage {stage} failed: dvc {command[4]} exited with code {code}. {seen['error']}".strip()
            )
    return "skipped" if seen["skipped"] and not force else "ran"

"""The table's commit stamp: a run's own dvc.lock updates do not mark it `+changes`, code edits do."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deepclust.bench.table import _git_commit


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_commit_stamp_ignores_dvc_lock(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "pipelines").mkdir()
    for name in ("dvc.lock", "pipelines/dvc.lock", "code.py"):
        (tmp_path / name).write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD")
    assert _git_commit(tmp_path) == head

    (tmp_path / "dvc.lock").write_text("b\n")
    (tmp_path / "pipelines/dvc.lock").write_text("b\n")
    assert _git_commit(tmp_path) == head

    (tmp_path / "code.py").write_text("b\n")
    assert _git_commit(tmp_path) == f"{head}+changes"


def test_commit_stamp_outside_git(tmp_path: Path) -> None:
    assert _git_commit(tmp_path / "missing") == "unknown"

"""A run with overrides gets its own workspace: a git worktree under `.dvc/tmp/runs/`, sharing the DVC cache.

The checkout's params.yaml is never edited, so runs with different overrides can run at the same time (each
worktree has its own DVC repo lock), and a finished run is saved as a DVC experiment (`dvc exp show` lists it
with its params and metrics). The worktree is keyed by HEAD and the overrides: a killed run leaves it behind,
and running the same overrides again continues there (training stages resume from their last epoch).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.params import apply_overrides, check_overrides

RUNS_DIR = Path(".dvc") / "tmp" / "runs"  # ignored by git (.dvc/.gitignore) and never searched for dvc.yaml


def _run(cwd: str | Path, *args: str) -> str:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd} (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _dvc(cwd: str | Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "dvc", *args)


def run_name(root: str, overrides: Mapping[str, Any]) -> str:
    """`run-<10 hex>` from HEAD and the overrides: the worktree's directory and the experiment's name."""
    head = _run(root, "git", "rev-parse", "HEAD").strip()
    text = json.dumps(dict(overrides), sort_keys=True, default=str)
    return "run-" + hashlib.sha256(f"{head}\n{text}".encode()).hexdigest()[:10]


def _mirror(root: Path, path: Path) -> None:
    """Copies the checkout's uncommitted files (modified or untracked, not ignored: dvc.lock too) into PATH."""
    listed = _run(root, "git", "ls-files", "-z", "--modified", "--others", "--exclude-standard")
    for rel in filter(None, listed.split("\0")):
        src, dst = root / rel, path / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        else:  # deleted in the checkout
            dst.unlink(missing_ok=True)


def open_workspace(root: str, overrides: Mapping[str, Any]) -> tuple[str, str]:
    """The worktree for OVERRIDES (created and checked out from the shared cache if new); returns (path, name).

    An unknown override key fails before anything is created.
    """
    check_overrides(root, overrides)
    name = run_name(root, overrides)
    path = Path(root) / RUNS_DIR / name
    if not (path / ".git").exists():
        _run(root, "git", "worktree", "add", "--detach", str(path), "HEAD")
        _mirror(Path(root), path)
        local = Path(root) / ".dvc" / "config.local"  # remotes or credentials set with --local
        if local.exists():
            shutil.copy2(local, path / ".dvc" / "config.local")
        _dvc(path, "cache", "dir", "--local", _dvc(root, "cache", "dir").strip())
        apply_overrides(str(path), overrides)
        # Outs the checkout already has come from the shared cache; the rest are simply missing (stage runs).
        _dvc(path, "checkout", "--quiet", "--allow-missing")
    return str(path), name


def save_experiment(workspace: str, name: str, stages: list[str]) -> str:
    """Saves the worktree as DVC experiment NAME (replacing one of that name), then removes the worktree.

    STAGES are the stages the run covered: DVC caches their outs (the other stages never ran here).
    """
    root = Path(workspace).parents[len(RUNS_DIR.parts)]
    _run(workspace, "git", "add", "-A")  # the worktree's own index: dvc.lock, metrics files
    # One save at a time: `dvc exp save` keeps its state in refs/exps/exec/*, which all worktrees share
    # (two saves at once, measured: "unexpected error - 'NoneType' object is not subscriptable").
    with (root / RUNS_DIR / "save.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _dvc(workspace, "exp", "save", "--force", "--name", name, *stages)
    _run(root, "git", "worktree", "remove", "--force", workspace)
    return name

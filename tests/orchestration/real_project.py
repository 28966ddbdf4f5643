"""Builds a temp copy of THIS project (real stages, real dvc.yaml) with tiny digits-only params.

The copy is a git + DVC repository made from the checkout's files (`git ls-files`, untracked files
included, `data/` and `tests/` left out). It gets its own params.yaml (the repository's pipelines and main job,
digits only, one seed, the stage tests' seconds-long settings, no bench, no runs), and `python -m pipelines sync`
regenerates the dvc.yaml files from it: the root dvc.yaml must come out byte-identical (it depends on the main
job only), and only digits seed 0 keeps a stage file.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from toy_project import sh, venv_env

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "stages"))

from stage_helpers import TINY_PARAMS  # noqa: E402

from pipelines.graph import build_graph  # noqa: E402
from pipelines.render import address  # noqa: E402

UP_TO_DATE = "Data and pipelines are up to date."
RUNNING = re.compile(r"Running stage '([^']+)'")
RESUMING = re.compile(r"\[pretext digits\] resuming from epoch (\d+)")
PRETEXT_EPOCH = re.compile(r"\[pretext digits\] .*\bepoch=(\d+)")


def tiny_params_dict(pretext_epochs: int = 3, **extra: Any) -> dict[str, Any]:
    """The repository's pipelines and main job on digits, seed 0, with the stage tests' tiny settings."""
    params = copy.deepcopy(TINY_PARAMS)
    params["main"] = yaml.safe_load((REPO / "params.yaml").read_text())["main"]
    params["pretext"]["digits"]["epochs"] = pretext_epochs
    params["pretext"]["digits"]["batch_size"] = 128
    params["mine"]["digits"]["num_neighbors"] = 20
    params["scan"]["digits"]["num_heads"] = 1
    return {**params, **extra}


def tiny_params(pretext_epochs: int = 3, **extra: Any) -> str:
    return "# tiny params written by tests/orchestration/real_project.py\n" + yaml.safe_dump(
        tiny_params_dict(pretext_epochs, **extra), sort_keys=False)


def addresses(pipeline: str, seed: int = 0) -> list[str]:
    """The DVC addresses of PIPELINE's stages on tiny digits, prepare first."""
    graph = build_graph(tiny_params_dict())
    return [address("digits", seed, inst.name) for inst in graph.chain(pipeline)]


SCAN_DIGITS = addresses("scan")
MAIN_DIGITS = list(dict.fromkeys(a for p in ("scan", "kmeans", "kmeans-pixels") for a in addresses(p))) + ["report"]
PRETEXT = "pipelines/digits/seed0/dvc.yaml:pretext"
PREPARE = "pipelines/digits/dvc.yaml:prepare"


@dataclass(frozen=True)
class Built:
    """A tiny project after its first `dvc repro`: where it is, what that run printed, how long it took."""

    root: Path
    first_output: str
    first_seconds: float


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the checkout, minus tests, data and params."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    skip = ("tests/", "data/", "local/", ".ci/")
    return [f for f in listed if not f.startswith(skip) and f != "params.yaml" and not f.endswith("dvc.lock")
            and (REPO / f).is_file()]


def make_real_project(root: Path, params: str | None = None) -> Path:
    """Copies the project into ROOT with tiny params (or PARAMS), regenerates dvc.yaml files, git init + commit."""
    root.mkdir(parents=True)
    for rel in project_files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    (root / "params.yaml").write_text(params or tiny_params())
    sh([sys.executable, "-m", "pipelines", "sync"], root)
    assert (root / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text(), "dvc.yaml is stale"
    if params is None:
        kept = sorted(p.relative_to(root).as_posix() for p in (root / "pipelines").rglob("dvc.yaml"))
        assert kept == ["pipelines/digits/dvc.yaml", "pipelines/digits/seed0/dvc.yaml"], kept  # the runs asked for
    sh(["git", "init", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "tiny deepclust"], root)
    return root


def build_real_project(root: Path) -> Built:
    """make_real_project, then the first `dvc repro` (as a fresh clone's user would run it)."""
    make_real_project(root)
    start = time.perf_counter()
    out = dvc_out(root, "repro")
    return Built(root, out, time.perf_counter() - start)


def copy_real_project(template: Path, root: Path) -> Path:
    """An independent copy (DVC keys its state by path; the copy re-hashes, nothing is shared)."""
    shutil.copytree(template, root, symlinks=True, ignore=shutil.ignore_patterns("tmp"))
    return root


def dvc_out(root: Path, *args: str, retries: int = 3) -> str:
    """`python -m dvc ARGS` in ROOT with the venv first on PATH; stdout+stderr; fails on a non-zero exit.

    Retries when a just-killed run's lock is still held ("is busy"), as the reference notes.
    """
    for attempt in range(retries):
        proc = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=root, env=venv_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if proc.returncode == 0:
            return proc.stdout
        if "is busy" not in proc.stdout or attempt == retries - 1:
            raise AssertionError(f"dvc {' '.join(args)} -> {proc.returncode}\n{proc.stdout}")
        time.sleep(1.0)
    raise AssertionError("unreachable")


def ran_stages(output: str) -> list[str]:
    """Stages DVC says it ran ("Running stage '...'"), in order."""
    return RUNNING.findall(output)

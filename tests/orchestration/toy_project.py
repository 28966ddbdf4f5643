"""Builds a tiny real DVC project (three toy stages a@toy -> b@toy -> c@toy) for orchestration tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

# One script serves every toy stage: it reads its own params block, its upstream out, writes its out
# and appends its name to runs.log (untracked) so tests can see which stages really ran.
STEP_PY = """\
import json, sys, time, yaml
stage, ds = sys.argv[1], sys.argv[2]
params = yaml.safe_load(open("params.yaml"))[stage][ds]
upstream = {"b": "a", "c": "b"}.get(stage)
value = params["x"] + (json.load(open(f"out/{upstream}_{ds}.json"))["value"] if upstream else 0)
with open(f"out/{stage}_{ds}.json", "w") as f:
    json.dump({"value": value}, f)
if stage == "c":
    with open(f"out/c_{ds}_metrics.json", "w") as f:
        json.dump({"acc": value / 100.0, "loss": {"total": 1.0}}, f)
with open("runs.log", "a") as f:
    f.write(f"{stage}@{ds}\\n")
print(f"toy stage {stage}@{ds} value={value}", flush=True)
"""

# Sleeps after spawning a grandchild `sleep 60`; writes both pids so a test can check the kill path.
SLEEPER_PY = """\
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
with open("sleeper.pids", "w") as f:
    f.write(f"{os.getpid()} {child.pid}\\n")
print("sleeper started", flush=True)
time.sleep(60)
"""

PARAMS_YAML = """\
# toy params: one block per stage and data set
a:
  toy:
    x: 1  # first stage
b:
  toy:
    x: 2
c:
  toy:
    x: 3
"""

DVC_YAML = """\
stages:
  a:
    foreach:
      - toy
    do:
      cmd: python step.py a ${item}
      deps:
        - step.py
      params:
        - a.${item}
      outs:
        - out/a_${item}.json
  b:
    foreach:
      - toy
    do:
      cmd: python step.py b ${item}
      deps:
        - step.py
        - out/a_${item}.json
      params:
        - b.${item}
      outs:
        - out/b_${item}.json
  c:
    foreach:
      - toy
    do:
      cmd: python step.py c ${item}
      meta:
        pipeline: toy
      deps:
        - step.py
        - out/b_${item}.json
      params:
        - c.${item}
      outs:
        - out/c_${item}.json
      metrics:
        - out/c_${item}_metrics.json:
            cache: false
"""

# Extra stages for the task tests only: they are appended on demand so a bare `dvc repro` stays 3 stages.
EXTRA_STAGES = """\
  fail:
    cmd: python -c "import sys; print('about to fail'); sys.exit(3)"
    outs:
      - out/never.txt
  sleeper:
    cmd: python sleeper.py
    always_changed: true
  whichpy:
    cmd: python -c "import sys; open('which_python.txt', 'w').write(sys.executable)"
    always_changed: true
"""


def venv_env() -> dict[str, str]:
    """Environment whose PATH finds this interpreter's `python` and `dvc` first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GIT_AUTHOR_NAME", "t")
    env.setdefault("GIT_AUTHOR_EMAIL", "t@t")
    env.setdefault("GIT_COMMITTER_NAME", "t")
    env.setdefault("GIT_COMMITTER_EMAIL", "t@t")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command in the toy project (in ENV, default venv_env()) and fails loudly with its output."""
    proc = subprocess.run(args, cwd=cwd, env=env or venv_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `python -m dvc ARGS` in the toy project."""
    return sh([sys.executable, "-m", "dvc", *args], root)


def make_toy_project(root: Path, extra_stages: bool = False) -> Path:
    """Creates git + DVC repo with the toy pipeline under ROOT and commits it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "out").mkdir()
    (root / "step.py").write_text(STEP_PY)
    (root / "sleeper.py").write_text(SLEEPER_PY)
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "dvc.yaml").write_text(DVC_YAML + (EXTRA_STAGES if extra_stages else ""))
    (root / ".gitignore").write_text("runs.log\nsleeper.pids\nwhich_python.txt\n")
    sh(["git", "init", "-q"], root)
    dvc(root, "init", "-q")
    # Lets `dvc exp` see a baseline and keeps analytics from trying the network.
    dvc(root, "config", "core.analytics", "false")
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "toy project"], root)
    return root


def copy_toy_project(template: Path, root: Path) -> Path:
    """A fresh copy of a project made by make_toy_project (cheaper than git/dvc init per test)."""
    # DVC keys its site cache by the repo path, so copies share no state with the template.
    shutil.copytree(template, root, symlinks=True)
    return root


def runs_log(root: Path) -> list[str]:
    """Stages that really executed, in order, since the log was last cleared."""
    log = root / "runs.log"
    return log.read_text().split() if log.exists() else []


def clear_runs_log(root: Path) -> None:
    """Forgets which stages ran so the next assertion sees only new runs."""
    (root / "runs.log").unlink(missing_ok=True)


def toy_dvc_yaml() -> str:
    """The toy dvc.yaml, for tests that print or patch it."""
    return textwrap.dedent(DVC_YAML)


def experiments(root: Path) -> dict[str, dict[str, Any]]:
    """`dvc exp show --json` as {experiment name: {"params": params.yaml, "metrics": {file: values}}}."""
    import json

    shown = json.loads(dvc(root, "exp", "show", "--json").stdout)
    found: dict[str, dict[str, Any]] = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                found[rev["name"]] = {
                    "params": data["params"]["params.yaml"]["data"],
                    "metrics": {path: m["data"] for path, m in data["metrics"].items()},
                }
    return found

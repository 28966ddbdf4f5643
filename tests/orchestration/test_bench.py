"""The bench command end to end on the REAL stages: 2 pipelines x 2 seeds of tiny digits, a SIGKILL in the
middle, a resume that recomputes no finished run, and the table's files and columns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from real_project import make_real_project, ran_stages, tiny_params
from toy_project import sh, venv_env

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(900)]

PIPELINES = ("kmeans-pixels", "kmeans")
SEEDS = (0, 1)
BENCH_PARAMS = tiny_params(seeds=list(SEEDS), bench={"digits": {"pipelines": list(PIPELINES), "seeds": list(SEEDS)}})
TERMINAL = {"kmeans-pixels": "embed-kmeans-evaluate", "kmeans": "pretext-embed-kmeans-evaluate"}


def _bench(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", "bench", "digits", *extra], cwd=root, env=venv_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)


def _finished(root: Path) -> dict[str, float]:
    """Finished runs: evaluate stages DVC has recorded in a dvc.lock (a stage whose outputs exist but whose
    lock entry is not written yet did not finish as far as DVC knows), with their metrics' mtimes."""
    found = {}
    for seed in SEEDS:
        locked = {}
        for lock in (root / f"pipelines/digits/seed{seed}/dvc.lock",
                     root / f"pipelines/bench/digits/seed{seed}/dvc.lock"):
            try:
                locked |= (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.exists() else {}
            except yaml.YAMLError:  # being rewritten
                continue
        for pipeline in PIPELINES:
            if TERMINAL[pipeline] in locked:
                path = root / f"data/digits/seed{seed}/{TERMINAL[pipeline]}/metrics.json"
                found[str(path.relative_to(root))] = path.stat().st_mtime_ns
    return found


def test_bench_table_resumes_after_kill(tmp_path: Path) -> None:
    root = make_real_project(tmp_path / "deepclust", BENCH_PARAMS)
    assert not list((root / "pipelines/bench").rglob("dvc.yaml"))  # written while the benchmark runs only
    log = tmp_path / "killed.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pipelines", "bench", "digits"], cwd=root, env=venv_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while not _finished(root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # dvc and its stage command: the whole session
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    finished = _finished(root)
    assert finished, log.read_text(errors="replace")
    assert len(finished) < len(PIPELINES) * len(SEEDS), "killed too late to test a resume: " + str(finished)

    resumed = None
    for _ in range(3):  # a just-killed run's DVC lock may still be held for a moment
        resumed = _bench(root)
        if resumed.returncode == 0 or "is busy" not in resumed.stdout:
            break
        time.sleep(1.0)
    assert resumed is not None and resumed.returncode == 0, resumed.stdout if resumed else ""
    ran = ran_stages(resumed.stdout)
    for path, mtime in finished.items():  # a finished run is neither re-run nor rewritten
        seed, stage = int(path.split("/")[2].removeprefix("seed")), path.split("/")[3]
        assert not any(address.endswith(f"digits/seed{seed}/dvc.yaml:{stage}") for address in ran), (path, ran)
        assert (root / path).stat().st_mtime_ns == mtime, path
    assert "pipelines/bench/dvc.yaml:bench-digits" in ran
    # the benchmark's stage files are gone again, DVC's records of its runs are kept
    assert not list((root / "pipelines/bench").rglob("dvc.yaml"))
    for lock, stage in (("digits/seed1/dvc.lock", "pretext-embed-kmeans-evaluate"), ("dvc.lock", "bench-digits")):
        assert stage in yaml.safe_load((root / "pipelines/bench" / lock).read_text())["stages"], lock

    table = pd.read_parquet(root / "reports/bench-digits.parquet")
    assert list(table["pipeline"]) == list(PIPELINES)
    for column in ("acc_mean", "acc_std", "acc_worst", "worst_seed", "nmi_mean", "nmi_std", "ari_mean", "ari_std",
                   "wall_seconds", "stage_seconds", "peak_rss_mb", "threads", "devices", "cpu", "gpu", "torch",
                   "commit", "protocol", "selection", "seed_list"):
        assert column in table.columns, column
    assert (table["seeds"] == len(SEEDS)).all() and (table["seed_list"] == "0 1").all()
    assert table["acc_mean"].between(0.1, 1.0).all() and (table["acc_worst"] <= table["acc_mean"]).all()
    assert (table["wall_seconds"] > 0).all() and (table["peak_rss_mb"] > 0).all()
    for ext in ("csv", "md", "png"):
        assert (root / f"reports/bench-digits.{ext}").stat().st_size > 0
    text = (root / "reports/bench-digits.md").read_text()
    assert "| kmeans-pixels |" in text and "Not pinned" in text

    again = _bench(root)  # nothing left to run: the same table, byte for byte
    assert again.returncode == 0, again.stdout
    assert "bench-digits" not in " ".join(ran_stages(again.stdout))
    assert (root / "reports/bench-digits.md").read_text() == text


def test_a_benchmark_with_a_remote_pushes_each_run_and_another_clone_pulls_it(tmp_path: Path) -> None:
    """`bench --remote`: each finished run is pushed; a clone of the commit (its dvc.lock files) with an empty
    cache pulls every run instead of recomputing it, as a new session on a fresh work tree would."""
    params = tiny_params(seeds=[0], bench={"digits": {"pipelines": ["kmeans-pixels"], "seeds": [3]}})
    first = make_real_project(tmp_path / "first", params)
    store = tmp_path / "store"
    sh([sys.executable, "-m", "dvc", "remote", "add", "--local", "store", str(store)], first)
    done = _bench(first, "--remote", "store")
    assert done.returncode == 0, done.stdout
    assert "pipelines/bench/digits/seed3/dvc.yaml:embed-kmeans" in ran_stages(done.stdout)
    assert any(store.rglob("*")), "nothing pushed"
    sh(["git", "add", "-A"], first)
    sh(["git", "commit", "-q", "-m", "bench"], first)

    second = tmp_path / "second"
    sh(["git", "clone", "-q", str(first), str(second)], tmp_path)
    sh([sys.executable, "-m", "dvc", "remote", "add", "--local", "store", str(store)], second)
    again = _bench(second, "--remote", "store")
    assert again.returncode == 0, again.stdout
    assert ran_stages(again.stdout) == [], again.stdout  # pulled, not re-run (prepare neither)
    model = "data/digits/seed3/embed-kmeans/predictions.csv"
    assert (second / model).read_bytes() == (first / model).read_bytes()

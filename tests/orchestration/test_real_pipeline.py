"""Plain DVC on the REAL stages (tiny digits params): repro, no-op, param change, exp run, metrics, dag, deps,
kill/resume.

The tests share one copy of the built project and run in file order: each leaves it fully reproduced.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from real_project import (
    MAIN_DIGITS,
    PRETEXT_EPOCH,
    RESUMING,
    SCAN_DIGITS,
    UP_TO_DATE,
    Built,
    addresses,
    copy_real_project,
    dvc_out,
    ran_stages,
    tiny_params,
)
from toy_project import venv_env

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(900)]

KILL_EPOCHS = 6  # pretext epochs of the kill/resume run


@pytest.fixture(scope="module")
def project(real_template: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_real_project(real_template.root, tmp_path_factory.mktemp("real-dvc") / "deepclust")


def test_repro_runs_the_main_pipelines_then_nothing(real_template: Built, project: Path) -> None:
    out = real_template.first_output
    ran = ran_stages(out)
    assert sorted(ran) == sorted(MAIN_DIGITS), out  # scan, kmeans, kmeans-pixels on digits; nothing else
    assert ran[0] == "pipelines/digits/dvc.yaml:prepare" and ran[-1] == "report"
    assert "ACC" in out and "NMI" in out and "ARI" in out  # evaluate and report print the metrics table
    report = (project / "reports" / "digits.md").read_text()
    assert "| scan | selflabel |" in report and "| kmeans-pixels | kmeans |" in report
    print(f"\nfirst `dvc repro` ({len(ran)} stages, tiny params): {real_template.first_seconds:.1f} s")
    times = []
    for _ in range(2):  # first no-op in the copy re-hashes its outs (new paths); the second is steady state
        start = time.perf_counter()
        noop = dvc_out(project, "repro")
        times.append(time.perf_counter() - start)
        assert UP_TO_DATE in noop and ran_stages(noop) == [], noop
    print(f"no-op `dvc repro`: {times[0]:.2f} s (fresh copy), {times[1]:.2f} s (again); goal <= 5 s")
    assert times[1] < 15  # generous: a loaded 2-core box; the figure above is what counts


def test_scan_param_reruns_scan_selflabel_evaluate_only(project: Path) -> None:
    start = time.perf_counter()
    out = dvc_out(project, "exp", "run", "-S", "scan.digits.entropy_weight=4")
    print(f"\n`dvc exp run -S scan.digits.entropy_weight=4`: {time.perf_counter() - start:.1f} s")
    assert ran_stages(out) == SCAN_DIGITS[4:] + ["report"], out
    assert "resuming" not in out  # scan's completed checkpoint has another fingerprint: it starts over
    assert "entropy_weight: 4" in (project / "params.yaml").read_text()
    assert UP_TO_DATE in dvc_out(project, "repro")


def _edit_params(project: Path, edit) -> str:
    """Applies EDIT to the project's params.yaml (as a dict) and syncs; returns the text before."""
    import yaml

    path = project / "params.yaml"
    before = path.read_text()
    params = yaml.safe_load(before)
    edit(params)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, "-m", "pipelines", "sync"], cwd=project, check=True, capture_output=True)
    return before


def test_an_override_of_scan_reruns_scan_and_what_follows_only(project: Path) -> None:
    """A data set's override of scan: DVC sees a change in SCAN only (not in prepare or pretext), and `dvc repro`
    re-runs SCAN, self-label, evaluate and the report. A pipeline's override makes its own SCAN stage."""
    before = _edit_params(project, lambda p: p["datasets"]["digits"].update(overrides={"scan": {"epochs": 3}}))
    try:
        changed = _changed(project)
        assert SCAN_DIGITS[4] in changed and not changed & set(SCAN_DIGITS[:4]), changed
        out = dvc_out(project, "repro")
        assert ran_stages(out) == SCAN_DIGITS[4:] + ["report"], out  # not prepare, not pretext
    finally:
        (project / "params.yaml").write_text(before)
        subprocess.run([sys.executable, "-m", "pipelines", "sync"], cwd=project, check=True, capture_output=True)
    pipeline = {"stages": ["prepare", "pretext", "embed", "mine", "scan", "selflabel", "evaluate"],
                "scan": {"epochs": 3}}
    before = _edit_params(project, lambda p: p["pipelines"].update(scan=pipeline))
    try:
        out = dvc_out(project, "repro")
        own = [a.replace("-scan", "-scan_scan", 1) for a in SCAN_DIGITS[4:]]  # the pipeline's own stages
        assert ran_stages(out) == own + ["report"], out
    finally:
        (project / "params.yaml").write_text(before)
        subprocess.run([sys.executable, "-m", "pipelines", "sync"], cwd=project, check=True, capture_output=True)
    back = dvc_out(project, "repro")  # SCAN back to its own settings: again SCAN and what follows, nothing upstream
    assert ran_stages(back) == SCAN_DIGITS[4:] + ["report"], back
    assert UP_TO_DATE in dvc_out(project, "repro")


def test_metrics_show_lists_acc_nmi_ari(project: Path) -> None:
    table = dvc_out(project, "metrics", "show")
    assert "data/digits/seed0/pretext-embed-mine-scan-selflabel-evaluate/metrics.json" in table
    for name in ("acc", "nmi", "ari"):
        assert name in table
    shown = json.loads(dvc_out(project, "metrics", "show", "--json"))
    evaluate = shown[""]["data"]["data/digits/seed0/pretext-embed-mine-scan-selflabel-evaluate/metrics.json"]["data"]
    assert {"acc", "nmi", "ari"} <= set(evaluate)
    assert 0.0 <= evaluate["acc"] <= 1.0


def _wait_for_epoch(proc: subprocess.Popen[bytes], log: Path, epoch: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = [int(e) for e in PRETEXT_EPOCH.findall(log.read_text(errors="replace"))]
        if seen and max(seen) >= epoch:
            return max(seen)
        assert proc.poll() is None, f"dvc repro exited early ({proc.returncode}):\n{log.read_text()}"
        time.sleep(0.2)
    raise AssertionError(f"pretext never reached epoch {epoch}:\n{log.read_text()}")


def _epoch_seconds(project: Path) -> list[float]:
    with (project / "data/digits/seed0/pretext/run/log.csv").open() as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)]


def test_pretext_change_starts_over_and_sigkill_resumes(project: Path, tmp_path: Path) -> None:
    """(e) new pretext params: no resume from the completed run; (d) SIGKILL at epoch e, resume e or e-1."""
    (project / "params.yaml").write_text(tiny_params(pretext_epochs=KILL_EPOCHS))
    log = tmp_path / "killed.log"
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro"], cwd=project, env=venv_env(),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        killed_at = _wait_for_epoch(proc, log, 2, 300)
        os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage cmd: the whole session
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed_seconds = time.perf_counter() - start
    killed = log.read_text(errors="replace")
    assert ran_stages(killed) == ["pipelines/digits/seed0/dvc.yaml:pretext"], killed
    assert "resuming" not in killed  # (e) the completed 3-epoch checkpoint has another fingerprint
    assert [int(e) for e in PRETEXT_EPOCH.findall(killed)][0] == 1, killed

    start = time.perf_counter()
    resumed = dvc_out(project, "repro")
    resume_seconds = time.perf_counter() - start
    stages = ran_stages(resumed)
    kmeans_pixels = set(addresses("kmeans-pixels"))  # the pixels' branch does not read pretext
    assert sorted(stages) == sorted(s for s in MAIN_DIGITS if s not in kmeans_pixels), resumed
    match = RESUMING.search(resumed)
    assert match, resumed
    resumed_from = int(match.group(1))
    assert resumed_from in (killed_at, killed_at - 1), (killed_at, resumed_from)
    trained = [int(e) for e in PRETEXT_EPOCH.findall(resumed)]
    assert trained == list(range(resumed_from + 1, KILL_EPOCHS + 1)), resumed
    metrics = json.loads((project / "data/digits/seed0/pretext/metrics.json").read_text())
    assert metrics["epochs"] == KILL_EPOCHS and metrics["resumed_at_epoch"] == resumed_from

    epoch_seconds = _epoch_seconds(project)
    assert len(epoch_seconds) == KILL_EPOCHS  # history carried over by the checkpoint
    saved = sum(epoch_seconds[:resumed_from])
    print(
        f"\nkill/resume: SIGKILL after epoch {killed_at} was printed ({killed_seconds:.1f} s in); "
        f"resumed from epoch {resumed_from}; the re-run took {resume_seconds:.1f} s for "
        f"{KILL_EPOCHS - resumed_from} pretext epochs + {len(stages) - 1} stages; training time not redone: "
        f"{saved:.1f} s of pretext epochs (+ prepare skipped)"
    )
    assert UP_TO_DATE in dvc_out(project, "repro")


def test_dag_shares_prepare_and_pretext_between_scan_and_kmeans(project: Path) -> None:
    dot = dvc_out(project, "dag", "--dot", "report")
    nodes = set(re.findall(r'"(pipelines/[^"]+|report)"', dot))
    assert nodes == set(MAIN_DIGITS)  # the main job and nothing else
    assert [n for n in nodes if n.endswith(":prepare")] == ["pipelines/digits/dvc.yaml:prepare"]
    assert [n for n in nodes if n.endswith(":pretext")] == ["pipelines/digits/seed0/dvc.yaml:pretext"]
    edges = set(re.findall(r'"([^"]+)" -> "([^"]+)"', dot))
    embed = "pipelines/digits/seed0/dvc.yaml:pretext-embed"
    assert ("pipelines/digits/seed0/dvc.yaml:pretext", embed) in edges
    assert (embed, "pipelines/digits/seed0/dvc.yaml:pretext-embed-mine") in edges
    assert (embed, "pipelines/digits/seed0/dvc.yaml:pretext-embed-kmeans") in edges
    print("\n" + dvc_out(project, "dag", "report"))


def _changed(project: Path) -> set[str]:
    status = json.loads(dvc_out(project, "status", "--json"))
    return set(status)


def test_touching_transforms_makes_every_importer_stale(project: Path) -> None:
    from pipelines.imports import stage_deps

    before = _changed(project)  # scan-on-features never ran: it is listed, and stays listed
    target = project / "deepclust" / "transforms" / "functional.py"
    original = target.read_text()
    target.write_text(original + "\n# touched\n")
    try:
        stale = _changed(project) - before
    finally:
        target.write_text(original)
    expected = {stage for stage in MAIN_DIGITS
                if "deepclust/transforms" in stage_deps(project, _kind(stage))}
    assert stale == expected, (stale, expected)
    assert {SCAN_DIGITS[i] for i in (1, 2, 4, 5)} <= stale  # pretext, embed, scan, selflabel
    print(f"\ntouching deepclust/transforms/functional.py: dvc status lists {sorted(stale)}")
    assert UP_TO_DATE in dvc_out(project, "repro")  # the same bytes again: nothing to do


def _kind(stage: str) -> str:
    if stage == "report":
        return "report"
    from real_project import tiny_params_dict

    from pipelines.graph import build_graph

    return build_graph(tiny_params_dict()).instance(stage.split(":")[1]).kind

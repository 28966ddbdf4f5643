"""pretext under `torchrun --nproc-per-node=2` (gloo, CPU): killed after its first checkpoint, it resumes and ends.

The stage runs exactly as the generated dvc.yaml command runs it when params ask for two processes.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stage_helpers import DS, argv, leftovers, out_dir, write_params

from deepclust.engine import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 4


def _torchrun(args: list[str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           "-m", "stages.pretext", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun starts each rank in its own session, out of its process group)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL to torchrun and both ranks at once, as a lost machine or `kill -9` of the job would do."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _checkpointed_epoch(path: Path) -> int:
    payload = load_checkpoint(path)  # rank 0 writes it atomically: never a torn read
    return 0 if payload is None else int(payload["run_variables"]["epoch"])


def test_two_process_pretext_is_killed_and_resumes(work: Path, tmp_path: Path) -> None:
    t0 = time.perf_counter()

    def edit(params: dict) -> None:
        params["pretext"][DS].update(epochs=EPOCHS, samples_per_epoch=512)

    args = argv("pretext", work, write_params(tmp_path / "params.yaml", edit))
    out = out_dir(work, "pretext")
    ckpt = out / "run" / "checkpoint.pt"
    first = _torchrun(args)
    deadline = time.time() + 120
    while _checkpointed_epoch(ckpt) < 1 and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    _kill_tree(first)  # mid-run
    killed_at = _checkpointed_epoch(ckpt)
    assert 1 <= killed_at < EPOCHS, (killed_at, first.stdout.read() if first.stdout else "")
    assert not (out / "metrics.json").exists()

    second = _torchrun(args)
    log, _ = second.communicate(timeout=180)
    assert second.returncode == 0, log
    resumed = [line for line in log.splitlines() if "resuming from epoch" in line]
    assert len(resumed) == 1, log  # printed by rank 0 only
    resumed_at = int(resumed[0].split("resuming from epoch ")[1].split()[0])
    assert resumed_at == killed_at  # nothing wrote after the kill
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_at_epoch"] == resumed_at and metrics["epochs"] == EPOCHS
    with open(out / "run" / "log.csv") as fh:
        assert [int(row["epoch"]) for row in csv.DictReader(fh)] == list(range(1, EPOCHS + 1))
    assert (out / "model.pt").exists() and leftovers(work) == []
    print(f"2-process pretext: killed after epoch {killed_at}, resumed at {resumed_at}, "
          f"{EPOCHS} epochs, {time.perf_counter() - t0:.1f} s in all")

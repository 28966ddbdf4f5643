"""Builds a temp copy of THIS project (real stages, real dvc.yaml) with tiny digits-only params.

The copy is a git + DVC repository made from the checkout's files (`git ls-files`, untracked files
included, `data/` and `tests/` left out). It gets its own params.yaml (the same pipelines and main job,
digits only, one seed, seconds-long settings), and `python -m pipelines sync` regenerates the dvc.yaml
files from it: the root dvc.yaml and pipelines/dvc.yaml must come out byte-identical (DVC's own `foreach`
over params.yaml's data sets makes them independent of the data sets), the extra seed files go away.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from toy_project import sh, venv_env

REPO = Path(__file__).resolve().parents[2]
SCAN_STAGES = ["prepare", "pretext-scan", "embed-scan", "mine-scan", "scan", "selflabel-scan", "evaluate-scan"]
SCAN_DIGITS = [f"pipelines/dvc.yaml:{stage}@digits" for stage in SCAN_STAGES]
MAIN_DIGITS = SCAN_DIGITS + [f"pipelines/dvc.yaml:{stage}@digits" for stage in (
    "kmeans", "evaluate-kmeans", "embed-kmeans-pixels", "kmeans-kmeans-pixels", "evaluate-kmeans-pixels")] + ["report"]
UP_TO_DATE = "Data and pipelines are up to date."
RUNNING = re.compile(r"Running stage '([^']+)'")
RESUMING = re.compile(r"\[pretext digits\] resuming from epoch (\d+)")
PRETEXT_EPOCH = re.compile(r"\[pretext digits\] .*\bepoch=(\d+)")

# Same structure as the project's params.yaml, digits only, tiny: the whole pipeline in about a minute.
TINY_PARAMS = """\
# tiny params written by tests/orchestration/real_project.py
pipelines:
  scan: [prepare, pretext, embed, mine, scan, selflabel, evaluate]
  kmeans: [prepare, pretext, embed, kmeans, evaluate]
  kmeans-pixels: [prepare, embed, kmeans, evaluate]
  scan-on-features:
    stages: [prepare, embed, mine, scan, selflabel, evaluate]
    scan: {{head: mlp}}
  deepcluster:
    stages: [prepare, deepcluster, embed, kmeans, evaluate]
    kmeans: {{l2_normalize: true}}
  pcl:
    stages: [prepare, pcl, embed, kmeans, evaluate]
    kmeans: {{features: head}}
  dec: [prepare, ae_pretrain, dec, evaluate]
  idec:
    stages: [prepare, ae_pretrain, dec, evaluate]
    dec: {{reconstruction: true, optimizer: adam, lr: 0.001}}
  scan-on-pcl: [prepare, pcl, embed, mine, scan, selflabel, evaluate]
  dec-on-simclr: [prepare, pretext, embed, ae_pretrain, dec, evaluate]
  scan-on-deepcluster: [prepare, deepcluster, embed, mine, scan, selflabel, evaluate]
  cc: [prepare, cc, evaluate]
  dcdc: [prepare, dcdc, evaluate]
  iic: [prepare, iic, evaluate]
  idfd:
    stages: [prepare, idfd, embed, kmeans, evaluate]
    kmeans: {{features: head}}
  scan-on-cc:
    stages: [prepare, cc, embed, mine, scan, selflabel, evaluate]
    mine: {{features: backbone}}
  scan-on-idfd: [prepare, idfd, embed, mine, scan, selflabel, evaluate]
  cc-selflabel: [prepare, cc, selflabel, evaluate]
  spectral-pixels: {{stages: [prepare, embed, baseline, evaluate], baseline: {{method: spectral}}}}
  agglomerative-pixels: {{stages: [prepare, embed, baseline, evaluate], baseline: {{method: agglomerative}}}}
  nmf-pixels: {{stages: [prepare, embed, baseline, evaluate], baseline: {{method: nmf}}}}
seeds: [0]
main:
  dataset: digits
  pipelines: [scan, kmeans, kmeans-pixels]
datasets:
  digits:
    preset: digits
    source: {{kind: digits, test_fraction: 0.2, seed: 0}}
    num_classes: 10
pretext:
  digits:
    backbone: small_cnn
    width: 8
    epochs: {pretext_epochs}
    batch_size: 128
    lr: 0.4
    temperature: 0.1
    augment: {{crop_scale: [0.5, 1.0], hflip_prob: 0.0, jitter_prob: 0.8, brightness: 0.4, contrast: 0.4,
              saturation: 0.0, hue: 0.0, grayscale_prob: 0.0}}
embed:
  digits: {{batch_size: 512}}
mine:
  digits: {{num_neighbors: 20, features: head}}
scan:
  digits:
    epochs: 2
    batch_size: 128
    entropy_weight: 5.0
    num_heads: 1
    augment: {{num_ops: 2, cutout_max: 3, hflip_prob: 0.0}}
selflabel:
  digits:
    epochs: 1
    batch_size: 256
    augment: {{num_ops: 2, cutout_max: 3, hflip_prob: 0.0}}
kmeans:
  digits: {{features: backbone, nredo: 1}}
baseline:
  digits: {{features: backbone}}
evaluate:
  digits: {{}}
ae_pretrain:
  digits: {{hidden_dims: [32, 32, 64, 10], epochs: 2, batch_size: 128, lr: 0.001}}
dec:
  digits: {{update_interval: 3, batch_size: 128, max_iterations: 9, kmeans_nredo: 2}}
deepcluster:
  digits: {{backbone: small_cnn, width: 8, num_clusters: 20, epochs: 2, batch_size: 128, lr: 0.05}}
pcl:
  digits: {{backbone: small_cnn, width: 8, epochs: 2, warmup_epochs: 1, batch_size: 128, lr: 0.06, queue_size: 256,
           num_clusters: [10, 20], hidden_dim: 32, output_dim: 16}}
cc:
  digits: {{backbone: small_cnn, width: 8, epochs: 2, batch_size: 128, lr: 0.001, hidden_dim: 32}}
dcdc:
  digits: {{backbone: small_cnn, width: 8, epochs: 2, batch_size: 128, lr: 0.001, overcluster: 20}}
iic:
  digits: {{backbone: small_cnn, width: 8, epochs: 3, batch_size: 128, lr: 0.001, overcluster: 20, cluster_epochs: 2}}
idfd:
  digits: {{backbone: small_cnn, width: 8, epochs: 2, batch_size: 128, lr: 0.03, output_dim: 16}}
"""


@dataclass(frozen=True)
class Built:
    """A tiny project after its first `dvc repro`: where it is, what that run printed, how long it took."""

    root: Path
    first_output: str
    first_seconds: float


def tiny_params(pretext_epochs: int = 3) -> str:
    return TINY_PARAMS.format(pretext_epochs=pretext_epochs)


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the checkout, minus tests, data and params."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    skip = ("tests/", "data/", "local/", ".ci/")
    return [f for f in listed if not f.startswith(skip) and f != "params.yaml" and (REPO / f).is_file()]


def make_real_project(root: Path, params: str | None = None) -> Path:
    """Copies the project into ROOT with tiny params (or PARAMS), regenerates dvc.yaml files, git init + commit."""
    root.mkdir(parents=True)
    for rel in project_files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    (root / "params.yaml").write_text(params or tiny_params())
    sh([sys.executable, "-m", "pipelines", "sync"], root)
    for rel in ("dvc.yaml", "pipelines/dvc.yaml"):
        assert (root / rel).read_text() == (REPO / rel).read_text(), f"{rel} is stale"
    if params is None:
        assert not list((root / "pipelines").glob("*/dvc.yaml")), "sync keeps only the declared seeds (and no bench)"
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

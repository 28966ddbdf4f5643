"""A user's own image folder, registered with one block of params.yaml, run through real DVC stages.

One block and one command: its preset supplies every stage's settings, and `python -m pipelines run` names the
pipeline and data set, declares the run in params.yaml `runs` (one line) and writes its own dvc.yaml; the main
job's files are untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from real_project import Built, copy_real_project
from toy_project import venv_env

pytestmark = [pytest.mark.orchestration, pytest.mark.timeout(900)]

BLOCK = """\
  mine:
    preset: digits
    num_classes: 3
    source: {{kind: folder, train: photos, skip_unreadable: {skip}}}
"""


def _photos(root: Path) -> int:
    """photos/<digit>/<n>.png from scikit-learn's digits 0-2 (16x16 RGB), plus one corrupt file."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    count = 0
    for label in (0, 1, 2):
        folder = root / "photos" / f"digit{label}"
        folder.mkdir(parents=True)
        for n, image in enumerate(digits.images[digits.target == label][:60]):
            pixels = np.rint(image * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).resize((16, 16)).convert("RGB").save(folder / f"{n:03d}.png")
            count += 1
    (root / "photos" / "digit1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated download")
    return count


def _add_block(root: Path, skip: bool) -> None:
    params = root / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("datasets:\n", "datasets:\n" + BLOCK.format(skip=str(skip).lower()), 1))


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=root, env=venv_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_image_folder_in_one_block(real_template: Built, tmp_path: Path) -> None:
    root = copy_real_project(real_template.root, tmp_path / "deepclust")
    readable = _photos(root)
    dvc_yaml = {p: p.read_text() for p in [root / "dvc.yaml", root / "pipelines/digits/seed0/dvc.yaml"]}

    _add_block(root, skip=False)
    failed = _run(root, "run", "scan", "mine")
    assert failed.returncode != 0
    assert "photos/digit1/broken.png" in failed.stdout and "skip_unreadable: true" in failed.stdout, failed.stdout
    assert not (root / "data" / "mine" / "prepared").exists()

    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace(
        "skip_unreadable: false", "skip_unreadable: true"))
    start = time.perf_counter()
    done = _run(root, "run", "scan", "mine")
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout
    assert {p: p.read_text() for p in dvc_yaml} == dvc_yaml  # the main job's stages are as they were
    assert "  - {dataset: mine, pipelines: [scan], seeds: [0]}" in (root / "params.yaml").read_text().splitlines()
    assert (root / "pipelines/mine/seed0/dvc.yaml").exists()
    assert "pipelines/mine/seed0/dvc.yaml:pretext-embed-mine-scan-selflabel-evaluate" in done.stdout
    assert "ACC" in done.stdout

    card = json.loads((root / "data/mine/prepared/card.json").read_text())
    assert [s["id"] for s in card["skipped"]] == ["photos/digit1/broken.png"]
    assert card["splits"]["train"]["n"] == readable
    predictions = pd.read_csv(root / "data/mine/seed0/pretext-embed-mine-scan-selflabel/predictions.csv",
                              dtype={"id": str})
    assert set(predictions["split"]) == {"train"}  # the folder has no test split
    assert len(predictions) == readable and predictions["id"].str.match(r"photos/digit[012]/\d{3}\.png$").all()
    assert {"cluster", "prob_0", "prob_1", "prob_2"} <= set(predictions.columns)
    metrics = json.loads((root / "data/mine/seed0/pretext-embed-mine-scan-selflabel-evaluate/metrics.json").read_text())
    assert metrics["split"] == "train" and "no test split" in metrics["protocol"]
    assert metrics["samples"] == readable and 0.0 <= metrics["acc"] <= 1.0
    print(f"\nown image folder ({readable} images + 1 corrupt, skipped): `python -m pipelines run scan mine` "
          f"{seconds:.1f} s; ACC {metrics['acc']} NMI {metrics['nmi']} ARI {metrics['ari']} on the train split")


def test_cluster_a_folder_with_an_estimated_k_and_a_pretrained_network(real_template: Built, tmp_path: Path) -> None:
    """`python -m pipelines cluster photos` on a folder with a corrupt file and an empty subfolder: the block is
    written, K is estimated from the pretext features (labels never enter), SCAN runs to a report that shows the
    estimate; then scan-pretrained and kmeans-pretrained on the same data set from a ResNet-18 state dict."""
    import torch
    import torchvision

    root = copy_real_project(real_template.root, tmp_path / "deepclust")
    from sklearn.datasets import load_digits

    digits = load_digits()
    readable = 0
    for label in (0, 1, 2):  # all of digits 0-2 (537): estimate_k needs 20 rows per micro-cluster
        folder = root / "photos" / f"digit{label}"
        folder.mkdir(parents=True)
        for n, image in enumerate(digits.images[digits.target == label]):
            Image.fromarray(np.rint(image * 255 / 16).astype(np.uint8)).convert("RGB").save(folder / f"{n:03d}.png")
            readable += 1
    (root / "photos" / "digit1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated download")
    (root / "photos" / "empty").mkdir()
    torch.save(torchvision.models.resnet18().state_dict(), root / "weights.pt")  # pretrained.digits reads it

    done = _run(root, "cluster", "photos", "--k", "auto", "--preset", "digits", "--image-size", "16")
    assert done.returncode == 0, done.stdout
    block = (root / "params.yaml").read_text()
    assert ("  photos:    # added by `python -m pipelines cluster photos`\n    preset: digits\n    num_classes: auto\n"
            in block)
    card = json.loads((root / "data/photos/prepared/card.json").read_text())
    assert [s["id"] for s in card["skipped"]] == ["photos/digit1/broken.png"]
    assert card["splits"]["train"]["n"] == readable
    estimate = json.loads((root / "data/photos/seed0/pretext-embed-estimate_k/k.json").read_text())
    assert 2 <= estimate["k"] <= 20 and len(estimate["ks"]) == len(estimate["criteria"]["merge drop score"])
    predictions = pd.read_csv(root / "data/photos/seed0/pretext-embed-mine-scan-selflabel/predictions.csv",
                              dtype={"id": str})
    assert predictions["cluster"].nunique() <= estimate["k"] and len(predictions) == readable
    report = root / "data/photos/seed0/pretext-embed-mine-scan-selflabel-evaluate/report.html"
    assert f"[pipelines] report: {report}" in done.stdout
    html = report.read_text()
    assert "K estimate" in html and "<script" not in html and "http" not in html.split("<body", 1)[1]

    for pipeline in ("kmeans-pretrained", "scan-pretrained"):
        ran = _run(root, "run", pipeline, "photos")
        assert ran.returncode == 0, ran.stdout
    assert (root / "data/photos/seed0/pretrained-estimate_k/k.json").exists()  # K on the pretrained features
    for name in ("pretrained-kmeans-evaluate", "pretrained-mine-scan_scan-pretrained-selflabel-evaluate"):
        metrics = json.loads((root / f"data/photos/seed0/{name}/metrics.json").read_text())
        assert metrics["samples"] == readable and 0.0 <= metrics["acc"] <= 1.0, name

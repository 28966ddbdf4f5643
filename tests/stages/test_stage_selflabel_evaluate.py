"""selflabel and evaluate: the fine-tuned model and its predictions; metrics per predictions file and PNGs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from stage_helpers import argv, is_png, leftovers, out_dir, run_stage, stderr_error_line

from deepclust.data import read_predictions
from deepclust.models.io import load_clustering
from stages import evaluate, selflabel


def test_selflabel_outputs(upstream: Path, params_file: Path) -> None:
    out = out_dir(upstream, "pretext-embed-mine-scan-selflabel")
    shutil.rmtree(out)
    assert run_stage(selflabel, argv("pretext-embed-mine-scan-selflabel", upstream, params_file)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert 0.0 < metrics["confident_fraction"] <= 1.0  # threshold 0.5: some samples are confident
    assert metrics["skipped_batches"] >= 0
    _, cfg = load_clustering(out / "model.pt")
    assert cfg["head"]["num_heads"] == 1
    assert (out / "run" / "checkpoint.pt").exists()
    assert set(read_predictions(out / "predictions.csv")) == {"train", "test"}
    assert leftovers(upstream) == []


def test_evaluate_scores_every_predictions_file(upstream: Path, params_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = out_dir(upstream, "pretext-embed-mine-scan-selflabel-evaluate")
    assert run_stage(evaluate, argv("pretext-embed-mine-scan-selflabel-evaluate", upstream, params_file)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["by_stage"]) == ["scan", "selflabel"] and metrics["final"] == "selflabel"
    for key in ("acc", "nmi", "ari"):
        assert metrics[key] == metrics["by_stage"]["selflabel"][key]  # the top level is the pipeline's result
    assert metrics["split"] == "test" and metrics["samples"] == 360 and "held-out test split" in metrics["protocol"]
    assert set(metrics["by_stage"]["scan"]) == {"acc", "nmi", "ari", "num_clusters"}
    assert is_png(out / "confusion.png") and is_png(out / "clusters.png")
    printed = capsys.readouterr().out
    assert "selflabel" in printed and "scan" in printed
    assert leftovers(upstream) == []


def test_evaluate_kmeans_pipeline(upstream: Path, params_file: Path) -> None:
    assert run_stage(evaluate, argv("pretext-embed-kmeans-evaluate", upstream, params_file)) == 0
    metrics = json.loads((out_dir(upstream, "pretext-embed-kmeans-evaluate") / "metrics.json").read_text())
    assert list(metrics["by_stage"]) == ["kmeans"] and metrics["acc"] > 0.2  # chance: 0.1


def test_evaluate_missing_predictions(upstream: Path, params_file: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = out_dir(upstream, "pretext-embed-mine-scan-selflabel-evaluate")
    missing = upstream / "x" / "predictions.csv"
    assert run_stage(evaluate, argv("pretext-embed-mine-scan-selflabel-evaluate", upstream, params_file,
                                    predictions=f"selflabel={missing}")) != 0
    assert "missing upstream artifact" in stderr_error_line(capsys.readouterr().err)
    assert not out.exists() or not any(out.iterdir())
    assert leftovers(upstream) == []


def test_evaluate_rejects_predictions_of_other_samples(upstream: Path, params_file: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = out_dir(upstream, "pretext-embed-kmeans") / "predictions.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # one training sample fewer
    args = argv("pretext-embed-mine-scan-selflabel-evaluate", upstream, params_file, predictions=f"kmeans={path}")
    assert run_stage(evaluate, args) == 0
    lines = path.read_text().splitlines()
    test_rows = [i for i, line in enumerate(lines) if line.startswith("test,")]
    del lines[test_rows[0]]
    path.write_text("\n".join(lines) + "\n")
    args = argv("pretext-embed-mine-scan-selflabel-evaluate", upstream, params_file, predictions=f"kmeans={path}")
    assert run_stage(evaluate, args) != 0
    assert "sample ids differ" in stderr_error_line(capsys.readouterr().err)

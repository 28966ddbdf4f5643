"""selflabel and evaluate: the fine-tuned model, metrics.json keys and valid PNGs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from stage_helpers import DS, argv, is_png, leftovers, run_stage, stderr_error_line

from deepclust.models.io import load_clustering
from stages import evaluate, selflabel

METRIC_BLOCKS = ("scan", "selflabel", "kmeans_raw_pixels", "kmeans_pretext_backbone", "kmeans_pretext_head")


def test_selflabel_outputs(upstream: Path, params_file: Path) -> None:
    out = upstream / DS / "selflabel"
    shutil.rmtree(out)
    assert run_stage(selflabel, argv("selflabel", upstream, params_file)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert 0.0 < metrics["confident_fraction"] <= 1.0  # threshold 0.5: some samples are confident
    assert metrics["skipped_batches"] >= 0
    _, cfg = load_clustering(out / "model.pt")
    assert cfg["num_heads"] == 1
    assert (out / "run" / "checkpoint.pt").exists()
    assert leftovers(upstream) == []


def test_evaluate_outputs(upstream: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = upstream / DS / "evaluate"
    shutil.rmtree(out, ignore_errors=True)
    assert run_stage(evaluate, argv("evaluate", upstream, params_file)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("acc", "nmi", "ari"):
        assert 0.0 <= metrics[key] <= 1.0 or key == "ari"
        assert metrics[key] == metrics["selflabel"][key]  # the top level is the pipeline's result
    for block in METRIC_BLOCKS:
        assert {"acc", "nmi", "ari"} <= metrics[block].keys(), block
    assert metrics["test_samples"] == 360
    assert is_png(out / "confusion.png") and is_png(out / "clusters.png")
    frame = pd.read_csv(out / "predictions.csv")
    assert list(frame.columns) == ["index", "cluster", "scan_cluster", "label"] and len(frame) == 360
    assert "kmeans_pretext_head" in capsys.readouterr().out
    assert leftovers(upstream) == []


def test_evaluate_missing_selflabel(upstream: Path, params_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = upstream / DS / "evaluate"
    shutil.rmtree(out, ignore_errors=True)
    missing = upstream / "x" / "m.pt"
    assert run_stage(evaluate, argv("evaluate", upstream, params_file, selflabel=missing)) != 0
    assert "missing upstream artifact" in stderr_error_line(capsys.readouterr().err)
    assert not out.exists() or not any(out.iterdir())
    assert leftovers(upstream) == []

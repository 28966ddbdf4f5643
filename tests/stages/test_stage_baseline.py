"""baseline: spectral, agglomerative and NMF on the digits pixels, scored by evaluate; the fitted subset and
the kNN vote beyond it; NMF's one-line refusal of negative features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stage_helpers import DS, argv, leftovers, out_dir, run_stage, stderr_error_line, write_params

from deepclust.data import read_predictions
from stages import baseline, embed, evaluate


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
@pytest.mark.parametrize(("method", "min_acc"), [("spectral", 0.5), ("agglomerative", 0.5), ("nmf", 0.3)])
def test_baseline_on_pixels(work: Path, params_file: Path, method: str, min_acc: float) -> None:
    assert run_stage(embed, argv("embed", work, params_file)) == 0
    assert run_stage(baseline, argv(f"embed-baseline_{method}-pixels", work, params_file)) == 0
    out = out_dir(work, f"embed-baseline_{method}-pixels")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["num_clusters"] == 10 and metrics["dim"] == 64
    assert metrics["num_fitted"] == 1437 and metrics["seconds"] >= 0  # digits is below max_samples
    predictions = read_predictions(out / "predictions.csv")
    assert {name: len(p.ids) for name, p in predictions.items()} == {"train": 1437, "test": 360}
    assert run_stage(evaluate, argv(f"embed-baseline_{method}-pixels-evaluate", work, params_file)) == 0
    scores = json.loads((out_dir(work, f"embed-baseline_{method}-pixels-evaluate") / "metrics.json").read_text())
    assert list(scores["by_stage"]) == ["baseline"] and scores["acc"] > min_acc  # chance: 0.1
    assert leftovers(work) == []


def test_rows_beyond_max_samples_vote(work: Path, tmp_path: Path) -> None:
    params = write_params(tmp_path / "params.yaml", lambda p: p["baseline"][DS].update(max_samples=500))
    assert run_stage(embed, argv("embed", work, params)) == 0
    assert run_stage(baseline, argv("embed-baseline_agglomerative-pixels", work, params)) == 0
    out = out_dir(work, "embed-baseline_agglomerative-pixels")
    assert json.loads((out / "metrics.json").read_text())["num_fitted"] == 500
    train = read_predictions(out / "predictions.csv")["train"]
    assert train.probabilities is not None
    one_hot = (train.probabilities == 1.0).any(1)
    assert one_hot.sum() >= 500 and not one_hot.all()  # the fitted rows, and voters that agree unanimously


def test_nmf_refuses_negative_features(work: Path, params_file: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run_stage(embed, argv("embed", work, params_file)) == 0
    with np.load(out_dir(work, "embed") / "features.npz") as f:
        centred = {key: f[key] - f[key].mean(0) for key in f.files}
    features = tmp_path / "features.npz"
    np.savez(features, **centred)
    out = out_dir(work, "embed-baseline_nmf-pixels")
    assert run_stage(baseline, argv("embed-baseline_nmf-pixels", work, params_file, features=features)) != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "non-negative" in line and "train" in line
    assert not (out / "metrics.json").exists() and leftovers(work) == []

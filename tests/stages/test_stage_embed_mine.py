"""embed and mine: feature matrices, neighbour lists with metrics; K >= N and a missing model fail cleanly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from stage_helpers import DS, argv, leftovers, out_dir, run_stage, stderr_error_line, write_params

from stages import embed, mine


def test_embed_writes_features(upstream: Path, params_file: Path) -> None:
    out = out_dir(upstream, "pretext-embed") / "features.npz"
    out.unlink()
    assert run_stage(embed, argv("pretext-embed", upstream, params_file)) == 0
    with np.load(out) as f:
        shapes = {k: f[k].shape for k in f.files}
        assert all(f[k].dtype == np.float32 and np.isfinite(f[k]).all() for k in f.files)
        np.testing.assert_allclose(np.linalg.norm(f["train_head"], axis=1), 1.0, rtol=1e-5)
    assert shapes == {"train_backbone": (1437, 32), "train_head": (1437, 16),
                      "test_backbone": (360, 32), "test_head": (360, 16)}
    assert leftovers(upstream) == []


def test_embed_missing_model(upstream: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = out_dir(upstream, "pretext-embed") / "features.npz"
    out.unlink()
    missing = upstream / "nowhere" / "model.pt"
    assert run_stage(embed, argv("pretext-embed", upstream, params_file, model=missing)) != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "missing upstream artifact" in line and str(missing) in line
    assert not out.exists() and leftovers(upstream) == []


def test_mine_writes_neighbours_and_metrics(upstream: Path, params_file: Path) -> None:
    out = out_dir(upstream, "pretext-embed-mine")
    shutil.rmtree(out)
    assert run_stage(mine, argv("pretext-embed-mine", upstream, params_file)) == 0
    neighbours = np.load(out / "neighbours.npy")
    assert neighbours.shape == (1437, 21) and neighbours.dtype == np.int64
    np.testing.assert_array_equal(neighbours[:, 0], np.arange(1437))  # self first
    assert neighbours.min() >= 0 and neighbours.max() < 1437
    metrics = json.loads((out / "metrics.json").read_text())
    for k in (1, 5, 20):
        assert 0.0 <= metrics[f"neighbour_acc@{k}"] <= 1.0
    assert metrics["num_neighbors"] == 20 and metrics["features"] == "head"
    assert leftovers(upstream) == []


def test_mine_k_not_below_n(upstream: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = out_dir(upstream, "pretext-embed-mine")
    shutil.rmtree(out)
    params = write_params(tmp_path / "params.yaml", lambda p: p["mine"][DS].update(num_neighbors=5000))
    assert run_stage(mine, argv("pretext-embed-mine", upstream, params)) != 0
    line = stderr_error_line(capsys.readouterr().err)
    assert "num_neighbors (from mine.digits) 5000" in line and "1437 training samples" in line  # before any work
    assert not (out / "neighbours.npy").exists() and not (out / "metrics.json").exists()
    assert leftovers(upstream) == []


def test_embed_without_model_is_the_input(upstream: Path, params_file: Path) -> None:
    """No network upstream (kmeans-pixels, scan-on-features): the features are the pixels, scaled to [0, 1]."""
    assert run_stage(embed, argv("embed", upstream, params_file)) == 0
    with np.load(out_dir(upstream, "embed") / "features.npz") as f:
        assert sorted(f.files) == ["test_backbone", "train_backbone"]
        train = f["train_backbone"]
    images = np.load(upstream / DS / "prepared" / "train.npz")["images"]
    np.testing.assert_allclose(train, images.reshape(len(images), -1) / 255.0, rtol=1e-6)
    metrics = json.loads((out_dir(upstream, "embed") / "metrics.json").read_text())
    assert metrics["source"] == "input"


def test_mine_head_view_falls_back_to_the_input(upstream: Path, params_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_stage(embed, argv("embed", upstream, params_file)) == 0
    assert run_stage(mine, argv("embed-mine", upstream, params_file)) == 0  # params ask for `head`
    assert "no projection head" in capsys.readouterr().out
    metrics = json.loads((out_dir(upstream, "embed-mine") / "metrics.json").read_text())
    assert metrics["features"] == "backbone" and metrics["neighbour_acc@1"] > 0.8  # digits pixels are close

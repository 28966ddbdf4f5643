"""The predictions CSV: exact round trips of ids, and a one-line error naming the file for each bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepclust.data import SplitPredictions, read_predictions, write_predictions
from deepclust.errors import DeepclustError

PROBS = "split,id,cluster,prob_0,prob_1\n"
AWKWARD_IDS = ["007", "NA", "1", "", "imgs/a, b.png", "imgs/with space .png", "猫/001.png", 'say "hi".png', "nan"]


def _probs(n: int, k: int, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, k))
    p = np.exp(logits)
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_with_probabilities(tmp_path: Path) -> None:
    k = 4
    probs = _probs(len(AWKWARD_IDS), k)
    train = SplitPredictions(np.array(AWKWARD_IDS), probs.argmax(1), probs)
    test = SplitPredictions(np.array(["t/0", "t/1"]), np.array([3, 0]), _probs(2, k, seed=1))
    write_predictions(tmp_path / "p.csv", {"train": train, "test": test}, num_clusters=k)
    assert os.listdir(tmp_path) == ["p.csv"]
    header = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "split,id,cluster,prob_0,prob_1,prob_2,prob_3"
    back = read_predictions(tmp_path / "p.csv")
    assert list(back) == ["train", "test"]
    assert back["train"].ids.tolist() == AWKWARD_IDS and back["train"].ids.dtype.kind == "U"
    assert back["train"].clusters.dtype == np.int64 and np.array_equal(back["train"].clusters, train.clusters)
    assert back["train"].probabilities.dtype == np.float32
    assert np.allclose(back["train"].probabilities, probs, atol=1e-6)
    assert np.array_equal(back["test"].clusters, [3, 0]) and back["test"].probabilities.shape == (2, k)


def test_round_trip_without_probabilities(tmp_path: Path) -> None:
    preds = {
        "train": SplitPredictions(np.array(["a", "b"]), np.array([0, 2], dtype=np.int32), None),
        "unlabeled": SplitPredictions(np.array(["a"]), np.array([1]), None),  # ids are unique per split only
    }
    write_predictions(tmp_path / "p.csv", preds, num_clusters=3)
    assert (tmp_path / "p.csv").read_text().splitlines() == [
        "split,id,cluster",
        "train,a,0",
        "train,b,2",
        "unlabeled,a,1",
    ]
    back = read_predictions(tmp_path / "p.csv")
    assert back["train"].probabilities is None and back["train"].clusters.tolist() == [0, 2]
    assert back["unlabeled"].ids.tolist() == ["a"]


def test_six_decimals_still_sum_to_one_for_many_clusters(tmp_path: Path) -> None:
    probs = _probs(5, 500)
    write_predictions(
        tmp_path / "p.csv", {"test": SplitPredictions(np.arange(5).astype(str), probs.argmax(1), probs)}, 500
    )
    assert read_predictions(tmp_path / "p.csv")["test"].probabilities.shape == (5, 500)


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    cases = {
        "missing upstream artifact predictions: .* does not exist": None,
        r"lack column\(s\) \['cluster'\]": "split,id\ntrain,a\n",
        r"unknown split\(s\) \['val'\]": "split,id,cluster\ntrain,a,0\nval,b,1\n",
        r"duplicate ids in split 'test'.*\['a'\]": "split,id,cluster\ntest,a,0\ntest,a,1\ntrain,a,1\n",
        "integers >= 0; row 1 has '-1'": "split,id,cluster\ntrain,a,0\ntrain,b,-1\n",
        "integers >= 0; row 0 has '1.5'": "split,id,cluster\ntrain,a,1.5\n",
        "integers >= 0; row 0 has ''": "split,id,cluster\ntrain,a,\n",
        "must be >= 0 and sum to 1; id 'b' sums to 0.9": PROBS + "train,a,0,0.5,0.5\ntrain,b,1,0.4,0.5\n",
        "must be >= 0 and sum to 1": PROBS + "train,a,0,1.5,-0.5\n",
        "must hold numbers": PROBS + "train,a,0,x,1\n",
        r"must be in \[0, 2\)": PROBS + "train,a,2,0.5,0.5\n",
        r"prob_0\.\.prob_\(K-1\)": "split,id,cluster,prob_0,prob_2\ntrain,a,0,0.5,0.5\n",
        "have no rows": "split,id,cluster\n",
        "cannot read predictions": "",
    }
    for i, (pattern, text) in enumerate(cases.items()):
        path = tmp_path / f"case{i}.csv"
        if text is not None:
            _write_csv(path, text)
        with pytest.raises(DeepclustError, match=pattern) as err:
            read_predictions(path)
        message = str(err.value)
        assert f"case{i}.csv" in message and "\n" not in message, message


def test_write_errors(tmp_path: Path) -> None:
    ok = SplitPredictions(np.array(["a", "b"]), np.array([0, 1]), None)
    path = tmp_path / "p.csv"
    with pytest.raises(DeepclustError, match="unknown split 'val'"):
        write_predictions(path, {"val": ok}, 2)
    with pytest.raises(DeepclustError, match=r"must be in \[0, 1\)"):
        write_predictions(path, {"train": ok}, 1)
    with pytest.raises(DeepclustError, match="positive integer"):
        write_predictions(path, {"train": ok}, 0)
    with pytest.raises(DeepclustError, match="duplicate ids"):
        write_predictions(path, {"train": SplitPredictions(np.array(["a", "a"]), np.array([0, 1]))}, 2)
    with_probs = SplitPredictions(np.array(["c"]), np.array([0]), np.array([[0.25, 0.75]]))
    with pytest.raises(DeepclustError, match="every split .* or none"):
        write_predictions(path, {"train": ok, "test": with_probs}, 2)
    with pytest.raises(DeepclustError, match="3 columns; expected K=2"):
        write_predictions(path, {"test": SplitPredictions(np.array(["c"]), np.array([0]), np.full((1, 3), 1 / 3))}, 2)
    with pytest.raises(DeepclustError, match="sum to 1"):
        write_predictions(path, {"test": SplitPredictions(np.array(["c"]), np.array([0]), np.array([[0.2, 0.2]]))}, 2)
    with pytest.raises(DeepclustError, match="no splits"):
        write_predictions(path, {}, 2)
    assert not path.exists() and os.listdir(tmp_path) == []


def test_split_predictions_types() -> None:
    preds = SplitPredictions(["x", "y"], [1, 0], [[0.5, 0.5], [1.0, 0.0]])
    assert preds.ids.dtype.kind == "U" and preds.clusters.dtype == np.int64 and preds.probabilities.dtype == np.float32
    with pytest.raises(DeepclustError, match="strings"):
        SplitPredictions(np.arange(2), np.array([0, 1]))
    with pytest.raises(DeepclustError, match="integers"):
        SplitPredictions(np.array(["a", "b"]), np.array([0.0, 1.0]))
    with pytest.raises(DeepclustError, match=r"\(N=2, K\)"):
        SplitPredictions(np.array(["a", "b"]), np.array([0, 1]), np.ones(2))


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.csv"
    write_predictions(path, {"train": SplitPredictions(np.array(["old"]), np.array([0]))}, 1)
    before = path.read_bytes()

    def crash(self: pd.DataFrame, target: Path, **kwargs: object) -> None:
        Path(target).write_text("split,id,clu")  # a half-written file
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", crash)
    with pytest.raises(OSError, match="disk full"):
        write_predictions(path, {"train": SplitPredictions(np.array(["new"]), np.array([0]))}, 1)
    assert os.listdir(tmp_path) == ["p.csv"] and path.read_bytes() == before

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepclust.data import dataset_stats, load_source
from deepclust.errors import DeepclustError


def test_npy_features_with_label_file(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(7, 3))
    np.save(tmp_path / "f.npy", x)
    np.save(tmp_path / "y.npy", np.arange(7) % 2)
    data = load_source("features", tmp_path, train="f.npy", train_labels="y.npy")
    assert data.train.images is None and data.train.features.dtype == np.float32
    assert data.train.features.shape == (7, 3) and data.train.labels.tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert len(data.train) == 7 and data.card["splits"]["train"]["feature_dim"] == 3
    assert data.card["image_shape"] is None and data.card["feature_dim"] == 3 and data.card["skipped"] == []
    assert data.train.ids.tolist() == [f"f.npy:{i}" for i in range(7)] and data.test is data.train
    plain = load_source("features", tmp_path, train="f.npy")
    assert plain.train.labels is None


def test_npy_train_and_test_with_labels(tmp_path: Path) -> None:
    (tmp_path / "emb").mkdir()
    np.save(tmp_path / "emb/train.npy", np.zeros((4, 2), dtype=np.float32))
    np.save(tmp_path / "emb/test.npy", np.ones((2, 2)))
    np.save(tmp_path / "emb/test_y.npy", np.array([1, 0]))
    data = load_source("features", tmp_path, train="emb/train.npy", test="emb/test.npy", test_labels="emb/test_y.npy")
    assert data.train.labels is None and data.test.labels.tolist() == [1, 0]
    assert data.train.ids[3] == "train.npy:3" and data.test.ids.tolist() == ["test.npy:0", "test.npy:1"]
    assert not data.card["test_is_train"] and data.card["splits"]["test"]["n"] == 2
    np.save(tmp_path / "emb/wide.npy", np.ones((2, 3)))
    with pytest.raises(DeepclustError, match="D=3, expected D=2"):
        load_source("features", tmp_path, train="emb/train.npy", test="emb/wide.npy")
    np.save(tmp_path / "emb/short_y.npy", np.array([1]))
    with pytest.raises(DeepclustError, match="test labels have 1 rows"):
        load_source("features", tmp_path, train="emb/train.npy", test="emb/test.npy", test_labels="emb/short_y.npy")


def test_parquet_and_csv_tables(tmp_path: Path) -> None:
    df = pd.DataFrame({"f0": [0.0, 1.0, 2.0], "f1": [1, 2, 3], "label": [2, 0, 1]})
    df.to_parquet(tmp_path / "t.parquet")
    data = load_source("features", tmp_path, train="t.parquet")
    assert data.train.features.shape == (3, 2) and data.train.labels.tolist() == [2, 0, 1]
    assert data.train.ids.tolist() == ["t.parquet:0", "t.parquet:1", "t.parquet:2"]
    assert data.card["image_shape"] is None and data.card["feature_dim"] == 2
    df.assign(label=["b", "a", "b"]).rename(columns={"label": "cls"}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"f0": [5.0], "f1": [6], "cls": ["b"]}).to_csv(tmp_path / "u.csv", index=False)
    data = load_source("features", tmp_path, train="t.csv", test="u.csv", label_column="cls")
    assert data.class_names == ["a", "b"] and data.train.labels.tolist() == [1, 0, 1]
    assert data.test.labels.tolist() == [1]
    assert data.train.ids.tolist() == ["t.csv:0", "t.csv:1", "t.csv:2"] and data.test.ids.tolist() == ["u.csv:0"]


def test_feature_errors(tmp_path: Path) -> None:
    pd.DataFrame({"f0": [0.0, np.nan]}).to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(DeepclustError, match="NaN"):
        load_source("features", tmp_path, train="nan.parquet")
    pd.DataFrame({"f0": [0.0], "name": ["x"]}).to_parquet(tmp_path / "str.parquet")
    with pytest.raises(DeepclustError, match="non-numeric.*name"):
        load_source("features", tmp_path, train="str.parquet")
    with pytest.raises(DeepclustError, match="label_column 'y'"):
        load_source("features", tmp_path, train="nan.parquet", label_column="y")
    np.save(tmp_path / "one_d.npy", np.zeros(4))
    with pytest.raises(DeepclustError, match=r"2-D \(N, D\)"):
        load_source("features", tmp_path, train="one_d.npy")


def test_dataset_stats_refuses_a_features_split(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.ones((3, 2)))
    data = load_source("features", tmp_path, train="f.npy")
    with pytest.raises(DeepclustError, match="features split") as err:
        dataset_stats(data.train.images)
    assert "\n" not in str(err.value)
    with pytest.raises(DeepclustError, match="uint8"):
        dataset_stats(data.train.features)

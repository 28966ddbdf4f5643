import os
from pathlib import Path

import numpy as np
import pytest

import deepclust.data.prepared as prepared
from deepclust.data import PreparedData, Split, dataset_stats, load_prepared, load_source, save_prepared
from deepclust.errors import DeepclustError


def _stl_like() -> PreparedData:
    rng = np.random.default_rng(0)
    train = Split(rng.integers(0, 256, (4, 5, 5, 3), dtype=np.uint8), np.arange(4, dtype=np.int64))
    test = Split(rng.integers(0, 256, (2, 5, 5, 3), dtype=np.uint8), np.zeros(2, dtype=np.int64))
    unlabeled = Split(rng.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8), None)
    card = {"kind": "test", "splits": {"train": {}, "test": {}, "unlabeled": {}}, "test_is_train": False}
    return PreparedData(train, test, unlabeled, ["a", "b", "c", "d"], card)


def test_round_trip_with_unlabeled(tmp_path: Path) -> None:
    data = _stl_like()
    save_prepared(data, tmp_path / "prep")
    assert sorted(os.listdir(tmp_path / "prep")) == ["card.json", "test.npz", "train.npz", "unlabeled.npz"]
    with np.load(tmp_path / "prep/unlabeled.npz") as z:
        assert z.files == ["images"]
    back = load_prepared(tmp_path / "prep")
    assert np.array_equal(back.train.images, data.train.images)
    assert np.array_equal(back.test.labels, data.test.labels)
    assert back.unlabeled.labels is None and np.array_equal(back.unlabeled.images, data.unlabeled.images)
    assert back.class_names == ["a", "b", "c", "d"] and back.card["kind"] == "test"


def test_round_trip_features_and_test_is_train(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.ones((3, 2)))
    data = load_source("features", tmp_path, train="f.npy")
    save_prepared(data, tmp_path / "out")
    back = load_prepared(tmp_path / "out")
    assert back.train.images is None and back.train.features.dtype == np.float32 and back.test is back.train
    assert back.unlabeled is None and (tmp_path / "out/test.npz").is_file()
    assert back.train.ids.tolist() == ["f.npy:0", "f.npy:1", "f.npy:2"] and back.test.ids is back.train.ids
    assert back.card["image_shape"] is None and back.card["feature_dim"] == 2


def test_ids_round_trip_without_pickle(tmp_path: Path) -> None:
    digits = load_source("digits", tmp_path)
    save_prepared(digits, tmp_path / "p")
    for name in ("train", "test"):
        with np.load(tmp_path / f"p/{name}.npz", allow_pickle=False) as z:
            assert z["ids"].dtype.kind == "U"
    back = load_prepared(tmp_path / "p")
    assert np.array_equal(back.train.ids, digits.train.ids) and np.array_equal(back.test.ids, digits.test.ids)
    assert back.train.ids[0].startswith("digits/") and np.array_equal(back.test.labels, digits.test.labels)


def test_old_prepared_dir_without_ids_gets_row_numbers(tmp_path: Path) -> None:
    save_prepared(_stl_like(), tmp_path / "old")  # built by hand without ids, as before ids existed
    with np.load(tmp_path / "old/train.npz") as z:
        assert "ids" not in z.files
    back = load_prepared(tmp_path / "old")
    assert back.train.ids.tolist() == ["0", "1", "2", "3"] and back.test.ids.tolist() == ["0", "1"]
    assert back.unlabeled.ids.tolist() == ["0", "1", "2"]


def test_save_replaces_previous_output(tmp_path: Path) -> None:
    save_prepared(_stl_like(), tmp_path / "p")
    digits = load_source("digits", tmp_path)
    save_prepared(digits, tmp_path / "p")
    assert not (tmp_path / "p/unlabeled.npz").exists() and len(load_prepared(tmp_path / "p").train) == 1437


def test_missing_artifacts(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="missing upstream artifact.*run the prepare stage"):
        load_prepared(tmp_path / "nothing")
    save_prepared(_stl_like(), tmp_path / "p")
    (tmp_path / "p/test.npz").unlink()
    with pytest.raises(DeepclustError, match=r"test\.npz.*run the prepare stage"):
        load_prepared(tmp_path / "p")


def test_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def flaky(path: Path, split: Split) -> None:
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError("disk full")
        real(path, split)

    real = prepared._write_npz
    monkeypatch.setattr(prepared, "_write_npz", flaky)
    with pytest.raises(OSError, match="disk full"):
        save_prepared(_stl_like(), tmp_path / "out")
    assert os.listdir(tmp_path) == []
    # an existing good output survives a failed overwrite
    monkeypatch.setattr(prepared, "_write_npz", real)
    save_prepared(_stl_like(), tmp_path / "out")
    calls.clear()
    monkeypatch.setattr(prepared, "_write_npz", flaky)
    with pytest.raises(OSError):
        save_prepared(_stl_like(), tmp_path / "out")
    assert os.listdir(tmp_path) == ["out"] and len(load_prepared(tmp_path / "out").train) == 4


def test_dataset_stats() -> None:
    images = np.zeros((10, 2, 2, 3), dtype=np.uint8)
    images[:5, ..., 0] = 255
    images[..., 2] = 51
    mean, std = dataset_stats(images, chunk=3)
    assert np.allclose(mean, (0.5, 0.0, 0.2)) and np.allclose(std, (0.5, 0.0, 0.0), atol=1e-6)
    with pytest.raises(DeepclustError):
        dataset_stats(np.zeros((0, 2, 2, 1), dtype=np.uint8))
    with pytest.raises(DeepclustError, match="features split"):
        dataset_stats(None)


def test_split_validation() -> None:
    with pytest.raises(DeepclustError, match="uint8"):
        Split(np.zeros((2, 3, 3, 1), dtype=np.float32), None)
    with pytest.raises(DeepclustError, match="labels has 3 rows"):
        Split(np.zeros((2, 3, 3, 1), dtype=np.uint8), np.zeros(3, dtype=np.int64))


def test_split_ids_validation() -> None:
    images = np.zeros((3, 2, 2, 1), dtype=np.uint8)
    split = Split(images, None, ids=np.array(["a", "b", "c"]))
    assert split.ids.tolist() == ["a", "b", "c"] and Split(images, None).ids is None
    with pytest.raises(DeepclustError, match="ids has 2 rows"):
        Split(images, None, ids=np.array(["a", "b"]))
    with pytest.raises(DeepclustError, match=r"unique; repeated: \['a'\]"):
        Split(images, None, ids=np.array(["a", "b", "a"]))
    with pytest.raises(DeepclustError, match="unicode"):
        Split(images, None, ids=np.arange(3))
    with pytest.raises(DeepclustError, match="unicode"):
        Split(images, None, ids=np.array(["a", "b", "c"], dtype=object))
    features = Split(None, None, np.zeros((2, 4), dtype=np.float32), np.array(["x:0", "x:1"]))
    assert len(features) == 2

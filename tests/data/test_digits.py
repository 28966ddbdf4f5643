from pathlib import Path

import numpy as np
import pytest

from deepclust.data import SOURCES, load_source
from deepclust.errors import DeepclustError


def test_digits_shapes_range_and_stratified_split(tmp_path: Path) -> None:
    data = load_source("digits", tmp_path)
    assert data.train.images.shape == (1437, 8, 8, 1) and data.test.images.shape == (360, 8, 8, 1)
    assert data.train.images.dtype == np.uint8 and data.train.labels.dtype == np.int64
    assert data.train.images.min() == 0 and data.train.images.max() == 255
    assert data.unlabeled is None and data.class_names == [str(d) for d in range(10)]
    # stratified: every class keeps ~20% of its images in test
    counts = np.bincount(data.test.labels, minlength=10)
    total = counts + np.bincount(data.train.labels, minlength=10)
    assert np.all(np.abs(counts - 0.2 * total) <= 1)
    assert data.card["split"] == {"test_fraction": 0.2, "seed": 0, "stratified": True}
    assert not data.card["test_is_train"]


def test_digits_scaling_matches_sklearn() -> None:
    from sklearn.datasets import load_digits

    raw = load_digits().images
    data = load_source("digits", Path("."), test_fraction=0.5, seed=3)
    all_images = np.concatenate([data.train.images, data.test.images])
    assert len(all_images) == len(raw)
    expected = np.unique(np.rint(raw * 255 / 16)).astype(int)
    assert np.unique(all_images).tolist() == expected.tolist()


def test_digits_ids_are_indices_into_load_digits() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data = load_source("digits", Path("."), seed=4)
    for split in (data.train, data.test):
        assert split.ids.dtype.kind == "U" and len(set(split.ids)) == len(split)
        index = np.array([int(i.removeprefix("digits/")) for i in split.ids])
        assert np.array_equal(split.labels, bunch.target[index])
        assert np.array_equal(split.images[..., 0], np.rint(bunch.images[index] * 255 / 16))
    assert not set(data.train.ids) & set(data.test.ids)
    assert len(set(data.train.ids) | set(data.test.ids)) == len(bunch.target)


def test_digits_deterministic_and_seed_dependent() -> None:
    a = load_source("digits", Path("."), seed=1)
    b = load_source("digits", Path("."), seed=1)
    c = load_source("digits", Path("."), seed=2)
    assert np.array_equal(a.train.images, b.train.images) and np.array_equal(a.test.labels, b.test.labels)
    assert not np.array_equal(a.train.images, c.train.images)


def test_unknown_kind_and_option() -> None:
    with pytest.raises(DeepclustError, match="expected one of .*digits.*features"):
        load_source("imagenet", Path("."))
    with pytest.raises(DeepclustError, match="unknown option"):
        load_source("digits", Path("."), test_frac=0.1)
    with pytest.raises(DeepclustError, match="test_fraction"):
        load_source("digits", Path("."), test_fraction=1.5)
    assert set(SOURCES) == {"digits", "torchvision", "parquet", "folder", "features"}

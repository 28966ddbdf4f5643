from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepclust.data import load_source
from deepclust.errors import DeepclustError


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _img(seed: int, size: tuple[int, int] = (6, 5)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_class_subfolders_and_test_dir(tmp_path: Path) -> None:
    _save(tmp_path / "train/dog/a.png", _img(0))
    _save(tmp_path / "train/cat/b.png", _img(1))
    _save(tmp_path / "train/cat/c.bmp", _img(2))
    (tmp_path / "train/cat/notes.txt").write_text("ignored")
    _save(tmp_path / "test/dog/d.png", _img(3))
    data = load_source("folder", tmp_path, train="train", test="test")
    assert data.class_names == ["cat", "dog"] and data.train.labels.tolist() == [0, 0, 1]
    assert data.train.images.shape == (3, 6, 5, 3) and np.array_equal(data.train.images[2], _img(0))
    assert data.test.labels.tolist() == [1]
    assert data.train.ids.tolist() == ["train/cat/b.png", "train/cat/c.bmp", "train/dog/a.png"]
    assert data.test.ids.tolist() == ["test/dog/d.png"]


@pytest.mark.parametrize("configured", ["imgs", "imgs/", "./imgs"])
def test_ids_keep_the_configured_relative_folder(tmp_path: Path, configured: str) -> None:
    _save(tmp_path / "imgs/cat/001.png", _img(0))
    _save(tmp_path / "imgs/cat/deep/002.png", _img(1))
    _save(tmp_path / "imgs/dog/003.png", _img(2))
    data = load_source("folder", tmp_path, train=configured)
    assert data.train.ids.tolist() == ["imgs/cat/001.png", "imgs/cat/deep/002.png", "imgs/dog/003.png"]
    assert data.train.labels.tolist() == [0, 0, 1]


def test_ids_of_nested_and_absolute_folders(tmp_path: Path) -> None:
    _save(tmp_path / "data/photos/x.png", _img(0))
    _save(tmp_path / "data/photos/y.png", _img(1))
    data = load_source("folder", tmp_path, train="data/photos")
    assert data.train.ids.tolist() == ["data/photos/x.png", "data/photos/y.png"]
    absolute = load_source("folder", Path("/nonexistent"), train=str(tmp_path / "data/photos"))
    assert absolute.train.ids.tolist() == [(tmp_path / "data/photos" / n).as_posix() for n in ("x.png", "y.png")]


def test_flat_folder_has_no_labels_and_resizes(tmp_path: Path) -> None:
    _save(tmp_path / "flat/x.png", _img(0))
    _save(tmp_path / "flat/y.jpg", _img(1, (10, 10)))
    with pytest.raises(DeepclustError, match=r"y\.jpg.*expected \(6, 5, 3\)"):
        load_source("folder", tmp_path, train="flat")
    data = load_source("folder", tmp_path, train="flat", image_size=4)
    assert data.train.images.shape == (2, 4, 4, 3) and data.train.labels is None and data.class_names is None
    assert data.train.ids.tolist() == ["flat/x.png", "flat/y.jpg"]


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    _save(tmp_path / "d/ok/a.png", _img(0))
    (tmp_path / "d/ok/broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DeepclustError, match=r"broken\.jpg.*set skip_unreadable: true") as err:
        load_source("folder", tmp_path, train="d")
    assert "\n" not in str(err.value)


def test_bad_layouts(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeepclustError, match="no images"):
        load_source("folder", tmp_path, train="empty")
    _save(tmp_path / "train/a/x.png", _img(0))
    _save(tmp_path / "test/zebra/y.png", _img(1))
    with pytest.raises(DeepclustError, match="zebra.*not one of the train classes"):
        load_source("folder", tmp_path, train="train", test="test")
    with pytest.raises(DeepclustError, match="image_size"):
        load_source("folder", tmp_path, train="train", image_size=-3)

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_fixtures import encode, write_image_parquet

from deepclust.data import load_source
from deepclust.errors import DeepclustError

REAL_MNIST_TEST = Path("/work/shared/data/mnist-test.parquet")


def _rgb(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_png_rgb_with_labels_is_lossless(tmp_path: Path) -> None:
    x = _rgb(5)
    write_image_parquet(tmp_path / "train.parquet", [encode(a, "PNG") for a in x], [3, 1, 4, 1, 5])
    data = load_source("parquet", tmp_path, train="train.parquet")
    assert np.array_equal(data.train.images, x) and data.train.labels.tolist() == [3, 1, 4, 1, 5]
    assert data.train.labels.dtype == np.int64 and data.test is data.train and data.card["test_is_train"]
    assert data.train.ids.tolist() == [f"train.parquet:{i}" for i in range(5)] and data.card["skipped"] == []


def test_jpeg_train_and_grayscale_png_test_without_labels(tmp_path: Path) -> None:
    gray = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    write_image_parquet(tmp_path / "a.parquet", [encode(a, "PNG") for a in gray], None)
    write_image_parquet(tmp_path / "b.parquet", [encode(a, "PNG") for a in gray[:2]], None)
    data = load_source("parquet", tmp_path, train=tmp_path / "a.parquet", test="b.parquet")
    assert data.train.images.shape == (4, 8, 8, 1) and data.train.labels is None and len(data.test) == 2
    assert data.train.ids[3] == "a.parquet:3" and data.test.ids.tolist() == ["b.parquet:0", "b.parquet:1"]
    jpg = _rgb(3)
    write_image_parquet(tmp_path / "j.parquet", [encode(a, "JPEG") for a in jpg], [0, 1, 2])
    data = load_source("parquet", tmp_path, train="j.parquet")
    assert data.train.images.shape == (3, 8, 8, 3) and np.abs(data.train.images.astype(int) - jpg).mean() < 60


def test_corrupt_row_names_file_and_row(tmp_path: Path) -> None:
    blobs = [encode(a, "PNG") for a in _rgb(4)]
    blobs[2] = blobs[2][:20]  # truncated PNG
    write_image_parquet(tmp_path / "bad.parquet", blobs, [0, 0, 0, 0])
    with pytest.raises(DeepclustError, match=r"bad\.parquet row 2"):
        load_source("parquet", tmp_path, train="bad.parquet")


def test_size_mismatch_and_missing_inputs(tmp_path: Path) -> None:
    blobs = [encode(a, "PNG") for a in _rgb(2)] + [encode(np.zeros((9, 8, 3), np.uint8), "PNG")]
    write_image_parquet(tmp_path / "mixed.parquet", blobs, None)
    with pytest.raises(DeepclustError, match=r"mixed\.parquet row 2.*expected \(8, 8, 3\)"):
        load_source("parquet", tmp_path, train="mixed.parquet")
    resized = load_source("parquet", tmp_path, train="mixed.parquet", image_size=4)
    assert resized.train.images.shape == (3, 4, 4, 3)
    with pytest.raises(DeepclustError, match="nope.parquet does not exist"):
        load_source("parquet", tmp_path, train="nope.parquet")
    pq.write_table(pa.table({"img": pa.array([b"x"])}), tmp_path / "noimage.parquet")
    with pytest.raises(DeepclustError, match="no 'image' column"):
        load_source("parquet", tmp_path, train="noimage.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet")
    with pytest.raises(DeepclustError, match="cannot read Parquet file"):
        load_source("parquet", tmp_path, train="garbage.parquet")


@pytest.mark.skipif(not REAL_MNIST_TEST.exists(), reason="real MNIST Parquet copy not present")
def test_real_mnist_parquet_head(tmp_path: Path) -> None:
    head = pq.ParquetFile(REAL_MNIST_TEST).read_row_group(0).slice(0, 200)
    pq.write_table(head, tmp_path / "mnist-head.parquet")
    data = load_source("parquet", tmp_path, train="mnist-head.parquet")
    assert data.train.images.shape == (200, 28, 28, 1) and data.train.images.dtype == np.uint8
    assert data.train.labels.min() >= 0 and data.train.labels.max() <= 9


@pytest.mark.parametrize("kind", ["parquet", "folder"])
def test_the_card_is_the_same_in_any_checkout(tmp_path: Path, kind: str) -> None:
    """The card records the inputs as params.yaml gives them: with the absolute path of the checkout in it, the
    prepared data (and every stage after it) would differ between two clones, and no clone could reuse another's
    results from a DVC remote."""
    cards = []
    for checkout in ("a", "b/deeper"):
        root = tmp_path / checkout
        (root / "data").mkdir(parents=True)
        if kind == "parquet":
            write_image_parquet(root / "data/train.parquet", [encode(a, "PNG") for a in _rgb(3)], [0, 1, 2])
            data = load_source("parquet", root, train="data/train.parquet")
        else:
            for i, image in enumerate(_rgb(4)):
                (root / "data/imgs" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
                (root / "data/imgs" / f"c{i % 2}" / f"{i}.png").write_bytes(encode(image, "PNG"))
            data = load_source("folder", root, train="data/imgs")
        cards.append(data.card)
    assert cards[0] == cards[1]
    assert cards[0]["files"]["train"] in ("data/train.parquet", "data/imgs")

"""`skip_unreadable` on the folder and parquet sources: aligned labels and ids, and the card's `skipped` list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_fixtures import encode, write_image_parquet

from deepclust.data import load_prepared, load_source, save_prepared
from deepclust.errors import DeepclustError


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (6, 5, 3), dtype=np.uint8)


def _folder_with_one_corrupt(tmp_path: Path) -> None:
    for name, seed in (("cat/a.png", 0), ("cat/b.png", 1), ("dog/c.png", 2)):
        (tmp_path / "imgs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "imgs" / name).write_bytes(encode(_rgb(seed), "PNG"))
    (tmp_path / "imgs/cat/broken.jpg").write_bytes(encode(_rgb(3), "JPEG")[:100])  # truncated JPEG


def test_folder_without_opt_in_names_the_file_and_the_hint(tmp_path: Path) -> None:
    _folder_with_one_corrupt(tmp_path)
    with pytest.raises(DeepclustError, match=r"imgs/cat/broken\.jpg.*set skip_unreadable: true") as err:
        load_source("folder", tmp_path, train="imgs")
    assert "\n" not in str(err.value)


def test_folder_with_opt_in_skips_and_lists_the_file(tmp_path: Path) -> None:
    _folder_with_one_corrupt(tmp_path)
    data = load_source("folder", tmp_path, train="imgs", skip_unreadable=True)
    assert data.train.ids.tolist() == ["imgs/cat/a.png", "imgs/cat/b.png", "imgs/dog/c.png"]
    assert data.train.labels.tolist() == [0, 0, 1] and data.class_names == ["cat", "dog"]
    assert np.array_equal(data.train.images[2], _rgb(2))
    [entry] = data.card["skipped"]
    assert entry["split"] == "train" and entry["id"] == "imgs/cat/broken.jpg" and "\n" not in entry["error"]
    assert "skipped 1 unreadable images (listed under `skipped`)" in data.card["notes"]
    assert data.card["splits"]["train"]["n"] == 3
    save_prepared(data, tmp_path / "prep")
    back = load_prepared(tmp_path / "prep")
    assert back.card["skipped"] == data.card["skipped"] and np.array_equal(back.train.ids, data.train.ids)


def test_parquet_opt_in_keeps_labels_and_ids_aligned(tmp_path: Path) -> None:
    x = np.stack([_rgb(i) for i in range(5)])
    blobs: list[bytes | None] = [encode(a, "PNG") for a in x]
    blobs[1], blobs[3] = b"\x89PNG corrupt", None
    write_image_parquet(tmp_path / "bad.parquet", blobs, [0, 1, 2, 3, 4])
    with pytest.raises(DeepclustError, match=r"bad\.parquet row 1: .*set skip_unreadable: true"):
        load_source("parquet", tmp_path, train="bad.parquet")
    data = load_source("parquet", tmp_path, train="bad.parquet", skip_unreadable=True)
    assert data.train.ids.tolist() == ["bad.parquet:0", "bad.parquet:2", "bad.parquet:4"]
    assert data.train.labels.tolist() == [0, 2, 4] and np.array_equal(data.train.images, x[[0, 2, 4]])
    assert [(e["split"], e["id"]) for e in data.card["skipped"]] == [
        ("train", "bad.parquet:1"),
        ("train", "bad.parquet:3"),
    ]
    assert "null" in data.card["skipped"][1]["error"] and data.test is data.train


def test_parquet_skipped_in_test_split_is_listed_as_test(tmp_path: Path) -> None:
    write_image_parquet(tmp_path / "train.parquet", [encode(_rgb(0), "PNG")], [0])
    write_image_parquet(tmp_path / "test.parquet", [b"junk", encode(_rgb(1), "PNG")], [1, 0])
    data = load_source("parquet", tmp_path, train="train.parquet", test="test.parquet", skip_unreadable=True)
    assert data.test.ids.tolist() == ["test.parquet:1"] and data.test.labels.tolist() == [0]
    assert [(e["split"], e["id"]) for e in data.card["skipped"]] == [("test", "test.parquet:0")]


def test_all_corrupt_raises_and_bad_option_value(tmp_path: Path) -> None:
    write_image_parquet(tmp_path / "junk.parquet", [b"a", b"b"], None)
    with pytest.raises(DeepclustError, match=r"all 2 images .*unreadable"):
        load_source("parquet", tmp_path, train="junk.parquet", skip_unreadable=True)
    with pytest.raises(DeepclustError, match="skip_unreadable must be true or false"):
        load_source("parquet", tmp_path, train="junk.parquet", skip_unreadable="yes")


def test_folder_mixing_grayscale_and_rgb_is_converted(tmp_path: Path) -> None:
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed/a.png").write_bytes(encode(_rgb(0), "PNG"))
    gray = np.full((6, 5, 1), 77, dtype=np.uint8)
    (tmp_path / "mixed/b.png").write_bytes(encode(gray, "PNG"))
    data = load_source("folder", tmp_path, train="mixed")
    assert data.train.images.shape == (2, 6, 5, 3) and data.train.images.dtype == np.uint8
    assert np.all(data.train.images[1] == 77) and data.card["skipped"] == []

"""Decoded data sets in memory (`Split`, `PreparedData`) and their on-disk form (`.npz` + `card.json`)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.errors import DeepclustError
from deepclust.io import atomic_path, write_atomic, write_json

logger = logging.getLogger(__name__)

_SPLITS = ("train", "test", "unlabeled")


def _check_ids(ids: np.ndarray, n: int) -> None:
    if ids.ndim != 1 or ids.dtype.kind != "U":
        raise DeepclustError(f"Split ids must be a 1-D unicode array (N,); got {ids.dtype} {ids.shape}")
    if len(ids) != n:
        raise DeepclustError(f"Split ids has {len(ids)} rows but the split has {n} samples")
    values, counts = np.unique(ids, return_counts=True)
    if len(values) != n:
        raise DeepclustError(f"Split ids must be unique; repeated: {values[counts > 1][:3].tolist()}")


def sample_ids(prefix: str, indices: np.ndarray | range) -> np.ndarray:
    """Builds ids `<prefix><index>` ("cifar10/train/" + 17 -> "cifar10/train/17").

    Args:
        prefix: text before the index.
        indices: int (N,) positions in the original source.

    Returns:
        unicode (N,).
    """
    return np.array([f"{prefix}{int(i)}" for i in indices], dtype=str)


@dataclass(frozen=True)
class Split:
    """One split of a data set, decoded once.

    Attributes:
        images: uint8 (N, H, W, C) with C = 1 (grayscale) or 3 (RGB); None for a feature table.
        labels: int64 (N,), or None when the split has no labels.
        features: float32 (N, D) for feature-table sources, else None.
        ids: unicode (N,), unique within the split, naming where each sample came from
            ("digits/17", "cifar10/train/17", "mnist-test.parquet:17", "imgs/cat/001.png"); None
            only for splits built by hand (`load_prepared` always fills it).
    """

    images: np.ndarray | None
    labels: np.ndarray | None
    features: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images is None and self.features is None:
            raise DeepclustError("a Split needs images (N, H, W, C) or features (N, D); got neither")
        if self.images is not None and (self.images.dtype != np.uint8 or self.images.ndim != 4):
            raise DeepclustError(
                f"Split images must be uint8 (N, H, W, C); got {self.images.dtype} {self.images.shape}"
            )
        if self.features is not None and self.features.ndim != 2:
            raise DeepclustError(f"Split features must be 2-D (N, D); got shape {self.features.shape}")
        n = len(self)
        for name, arr in (("labels", self.labels), ("features", self.features)):
            if arr is not None and len(arr) != n:
                raise DeepclustError(f"Split {name} has {len(arr)} rows but the split has {n} samples")
        if self.ids is not None:
            _check_ids(self.ids, n)

    def __len__(self) -> int:
        arr = self.images if self.images is not None else self.features
        return 0 if arr is None else int(arr.shape[0])


@dataclass(frozen=True)
class PreparedData:
    """A whole data set: train/test (and STL-10's unlabeled) splits plus a JSON-able description.

    Attributes:
        train: the split to cluster.
        test: the evaluation split; the very same arrays as `train` when the source has none
            (then `card["test_is_train"]` is True).
        unlabeled: extra images without labels (STL-10 'unlabeled', 100k); None elsewhere.
        class_names: names for label values 0..K-1, or None when unknown.
        card: source description: kind, name, counts per split, image shape, classes, protocol notes.
    """

    train: Split
    test: Split
    unlabeled: Split | None
    class_names: list[str] | None
    card: dict[str, Any]


def split_summary(split: Split) -> dict[str, Any]:
    """Returns a JSON-able summary of a split: sample count, array shapes, whether it has labels."""
    out: dict[str, Any] = {"n": len(split), "labeled": split.labels is not None}
    if split.images is not None:
        out["image_shape"] = list(split.images.shape[1:])
    if split.features is not None:
        out["feature_dim"] = int(split.features.shape[1])
    return out


def make_card(
    kind: str,
    name: str,
    train: Split,
    test: Split,
    unlabeled: Split | None,
    class_names: list[str] | None,
    notes: list[str],
    skipped: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Builds the `card` dict of a `PreparedData` (counts, shapes, classes, protocol notes).

    Args:
        skipped: one `{"split", "id", "error"}` entry per unreadable image left out (see
            `skip_unreadable`); stored under `skipped`, an empty list when none.
        **extra: further JSON-able keys (source files, split protocol).
    """
    skipped = list(skipped or [])
    test_is_train = test is train
    if test_is_train:
        notes = [*notes, "the source has no test split: test is the same arrays as train"]
    if skipped:
        notes = [*notes, f"skipped {len(skipped)} unreadable images (listed under `skipped`)"]
    splits = {"train": split_summary(train), "test": split_summary(test)}
    if unlabeled is not None:
        splits["unlabeled"] = split_summary(unlabeled)
    return {
        "kind": kind,
        "name": name,
        "splits": splits,
        "image_shape": None if train.images is None else list(train.images.shape[1:]),
        "feature_dim": None if train.features is None else int(train.features.shape[1]),
        "num_classes": None if class_names is None else len(class_names),
        "class_names": class_names,
        "test_is_train": test_is_train,
        "notes": notes,
        "skipped": skipped,
        **extra,
    }


def _write_npz(path: Path, split: Split) -> None:
    named = {"images": split.images, "labels": split.labels, "features": split.features, "ids": split.ids}
    arrays: dict[str, Any] = {k: v for k, v in named.items() if v is not None}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object keeps np.savez from appending ".npz" to the temp name
            np.savez(f, **arrays)

    write_atomic(path, write)


def save_prepared(data: PreparedData, out_dir: Path) -> None:
    """Writes `train.npz`, `test.npz`, optional `unlabeled.npz` and `card.json` into `out_dir`.

    The directory is built under a temporary name and renamed into place, so a crash leaves either the
    previous `out_dir` or the complete new one, never a partial one. Arrays are stored uncompressed
    under the keys `images`, `labels`, `features`, `ids` (only those present; ids are a unicode
    array, so the files load with `allow_pickle=False`).
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        _write_npz(tmp / "train.npz", data.train)
        _write_npz(tmp / "test.npz", data.test)
        if data.unlabeled is not None:
            _write_npz(tmp / "unlabeled.npz", data.unlabeled)
        write_json(tmp / "card.json", {**data.card, "class_names": data.class_names})
    logger.info("saved prepared data to %s", out_dir)


def _read_npz(path: Path) -> Split:
    if not path.is_file():
        raise DeepclustError(f"missing upstream artifact {path} (run the prepare stage)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DeepclustError(f"cannot read prepared split {path}: {e} (re-run the prepare stage)") from e
    split = Split(arrays.get("images"), arrays.get("labels"), arrays.get("features"), arrays.get("ids"))
    if split.ids is None:  # prepared before ids existed: the row number is the only name left
        split = replace(split, ids=sample_ids("", range(len(split))))
    return split


def load_prepared(dir: Path) -> PreparedData:
    """Loads what `save_prepared` wrote.

    Every split comes back with `ids`; a directory written before ids existed gets `str(row)`.

    Raises:
        DeepclustError: the directory or one of its files is missing or unreadable.
    """
    d = Path(dir)
    if not d.is_dir():
        raise DeepclustError(f"missing upstream artifact prepared data {d} (run the prepare stage)")
    card_path = d / "card.json"
    if not card_path.is_file():
        raise DeepclustError(f"missing upstream artifact {card_path} (run the prepare stage)")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as e:
        raise DeepclustError(f"cannot parse {card_path}: {e} (re-run the prepare stage)") from e
    train = _read_npz(d / "train.npz")
    # Keep one copy in memory when test was train at prepare time.
    test = train if card.get("test_is_train") else _read_npz(d / "test.npz")
    unlabeled = _read_npz(d / "unlabeled.npz") if "unlabeled" in card.get("splits", {}) else None
    return PreparedData(train, test, unlabeled, card.get("class_names"), card)

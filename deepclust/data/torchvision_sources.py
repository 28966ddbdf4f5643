"""torchvision data sets (CIFAR-10, CIFAR-20, STL-10, MNIST), read from their arrays, not per sample."""

from __future__ import annotations

import logging
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data._util import reject_unknown
from deepclust.data.cifar20 import CIFAR20_CLASS_NAMES, to_cifar20
from deepclust.data.prepared import PreparedData, Split, make_card, sample_ids
from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)

TORCHVISION_NAMES = ("cifar10", "cifar20", "stl10", "mnist")

_CIFAR20_NOTE = "CIFAR-100 fine labels mapped to 20 superclasses by the standard fixed table (as SCAN/IIC)"

# Errors torchvision raises for a failed download or missing/corrupt files (URLError is an OSError).
_LOAD_ERRORS = (OSError, RuntimeError, EOFError, ValueError, tarfile.TarError, pickle.UnpicklingError)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}"


def _construct(cls: type, name: str, root: Path, download: bool, **kwargs: Any) -> Any:
    """Builds a torchvision data set, turning download and missing-file failures into DeepclustError."""
    try:
        return cls(str(root), download=download, **kwargs)
    except _LOAD_ERRORS as e:
        if download:
            raise DeepclustError(
                f"torchvision data set '{name}' could not be downloaded into {root} ({_one_line(e)}); "
                "without internet, put the original files under root and set download: false, or use a "
                "'parquet' or 'folder' source"
            ) from e
        raise DeepclustError(
            f"torchvision data set '{name}' not found or corrupt under {root} with download: false "
            f"({_one_line(e)}); put torchvision's files there, set download: true, or use a 'parquet' source"
        ) from e


def _ids(name: str, split: str, n: int) -> np.ndarray:
    """Ids `<name>/<split>/<index>` ("cifar10/train/17"), the index into torchvision's data set."""
    return sample_ids(f"{name}/{split}/", range(n))


def _cifar(name: str, root: Path, download: bool) -> tuple[Split, Split, list[str], list[str]]:
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    splits = []
    for train in (True, False):
        ds = _construct(cls, name, root, download, train=train)
        labels = np.asarray(ds.targets, dtype=np.int64)
        if name == "cifar20":
            labels = to_cifar20(labels)
        ids = _ids(name, "train" if train else "test", len(labels))
        splits.append(Split(np.ascontiguousarray(ds.data, dtype=np.uint8), labels, ids=ids))
    if name == "cifar20":
        return splits[0], splits[1], list(CIFAR20_CLASS_NAMES), [_CIFAR20_NOTE]
    return splits[0], splits[1], list(ds.classes), []


def _mnist(root: Path, download: bool) -> tuple[Split, Split, list[str], list[str]]:
    from torchvision.datasets import MNIST

    splits = []
    for train in (True, False):
        ds = _construct(MNIST, "mnist", root, download, train=train)
        images = ds.data.numpy().astype(np.uint8, copy=False)[..., None]
        ids = _ids("mnist", "train" if train else "test", len(images))
        splits.append(Split(np.ascontiguousarray(images), ds.targets.numpy().astype(np.int64), ids=ids))
    return splits[0], splits[1], [str(d) for d in range(10)], []


def _stl_split(ds: Any, split: str, labeled: bool = True) -> Split:
    # torchvision keeps STL-10 as (N, 3, 96, 96); we store NHWC like every other source.
    images = np.ascontiguousarray(np.asarray(ds.data, dtype=np.uint8).transpose(0, 2, 3, 1))
    labels = np.asarray(ds.labels, dtype=np.int64) if labeled else None
    return Split(images, labels, ids=_ids("stl10", split, len(images)))


def _stl10(
    root: Path, download: bool, include_unlabeled: bool
) -> tuple[Split, Split, Split | None, list[str]]:
    from torchvision.datasets import STL10

    train_ds = _construct(STL10, "stl10", root, download, split="train")
    test_ds = _construct(STL10, "stl10", root, download=False, split="test")
    train, test = _stl_split(train_ds, "train"), _stl_split(test_ds, "test")
    unlabeled = None
    if include_unlabeled:
        un_ds = _construct(STL10, "stl10", root, download=False, split="unlabeled")
        unlabeled = _stl_split(un_ds, "unlabeled", labeled=False)
    default = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    return train, test, unlabeled, list(getattr(train_ds, "classes", default))


def load_torchvision(root: Path, **options: Any) -> PreparedData:
    """Loads a torchvision data set, downloading it into `root` unless `download` is false.

    Options:
        name: one of "cifar10", "cifar20" (CIFAR-100 with 20 superclasses), "stl10", "mnist". Required.
        download: download the originals when missing (default True).
        include_unlabeled: STL-10 only: also load the 100k 'unlabeled' images (default True).

    Returns:
        PreparedData: CIFAR (N, 32, 32, 3), STL-10 (N, 96, 96, 3) with `unlabeled`, MNIST (N, 28, 28, 1);
        ids `<name>/<split>/<index>` ("cifar10/train/17", "stl10/unlabeled/5").
    """
    reject_unknown(options, {"name", "download", "include_unlabeled"}, "torchvision")
    name = str(options.get("name", "")).lower()
    if name not in TORCHVISION_NAMES:
        raise DeepclustError(
            f"unknown torchvision data set '{options.get('name')}'; expected one of {TORCHVISION_NAMES}"
        )
    download = bool(options.get("download", True))
    root = Path(root)
    unlabeled = None
    if name in ("cifar10", "cifar20"):
        train, test, classes, notes = _cifar(name, root, download)
    elif name == "mnist":
        train, test, classes, notes = _mnist(root, download)
    else:
        train, test, unlabeled, classes = _stl10(root, download, bool(options.get("include_unlabeled", True)))
        notes = ["official split: train 5k labeled, test 8k; 'unlabeled' 100k images without labels"]
    notes = [*notes, "official train/test split of torchvision.datasets"]
    card = make_card("torchvision", name, train, test, unlabeled, classes, notes, root=str(root))
    logger.info("loaded torchvision %s: train %d, test %d", name, len(train), len(test))
    return PreparedData(train, test, unlabeled, classes, card)

"""`load_source`: one entry point that turns a source description into decoded `PreparedData`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data._util import reject_unknown
from deepclust.data.features import load_features
from deepclust.data.image_files import load_folder, load_parquet
from deepclust.data.prepared import PreparedData, Split, make_card, sample_ids
from deepclust.data.torchvision_sources import load_torchvision
from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)


def load_digits(root: Path, **options: Any) -> PreparedData:
    """scikit-learn's embedded 8x8 digits (1797 images; no file, no network).

    Options:
        test_fraction: share of images in the stratified test split (default 0.2).
        seed: random seed of the split (default 0).

    Returns:
        PreparedData with uint8 (N, 8, 8, 1) images scaled from 0..16 to 0..255, labels 0..9, and ids
        `digits/<index into load_digits()>`.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    reject_unknown(options, {"test_fraction", "seed"}, "digits")
    fraction = float(options.get("test_fraction", 0.2))
    seed = int(options.get("seed", 0))
    if not 0.0 < fraction < 1.0:
        raise DeepclustError(f"digits option test_fraction must be in (0, 1); got {fraction}")
    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(
        np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels
    )
    idx_train, idx_test = np.sort(idx_train), np.sort(idx_test)
    # Ids keep the index into load_digits(), so a sample is named the same whatever the split.
    train = Split(images[idx_train], labels[idx_train], ids=sample_ids("digits/", idx_train))
    test = Split(images[idx_test], labels[idx_test], ids=sample_ids("digits/", idx_test))
    classes = [str(d) for d in range(10)]
    notes = [f"no official split: stratified split with test_fraction={fraction}, seed={seed}"]
    card = make_card(
        "digits",
        "sklearn-digits",
        train,
        test,
        None,
        classes,
        notes,
        split={"test_fraction": fraction, "seed": seed, "stratified": True},
    )
    return PreparedData(train, test, None, classes, card)


SOURCES: dict[str, Callable[..., PreparedData]] = {
    "digits": load_digits,
    "torchvision": load_torchvision,
    "parquet": load_parquet,
    "folder": load_folder,
    "features": load_features,
}


def load_source(kind: str, root: Path, **options: Any) -> PreparedData:
    """Loads and decodes a data source once.

    Args:
        kind: a key of `SOURCES`: "digits", "torchvision", "parquet", "folder" or "features".
        root: data directory; relative paths in `options` are resolved against it.
        **options: per-kind options, documented on each loader (`load_parquet`, `load_torchvision`, ...).

    Returns:
        PreparedData whose splits hold uint8 (N, H, W, C) images (or float32 (N, D) features) and
        unique sample ids naming where each sample came from.

    Raises:
        DeepclustError: unknown kind or option, missing/corrupt input, failed download.
    """
    if kind not in SOURCES:
        raise DeepclustError(f"unknown data source kind '{kind}'; expected one of {sorted(SOURCES)}")
    data = SOURCES[kind](Path(root), **options)
    logger.info("loaded %s source: %s", kind, data.card.get("splits"))
    return data

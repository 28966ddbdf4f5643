"""Feature-table sources: precomputed embeddings (.npy, .parquet, .csv) clustered without images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepclust.data._util import as_labels, reject_unknown, resolve_input, source_files
from deepclust.data.prepared import PreparedData, Split, make_card, sample_ids
from deepclust.errors import DeepclustError

_TABLE_SUFFIXES = (".parquet", ".csv")


def _check_features(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim != 2 or x.shape[0] == 0:
        raise DeepclustError(f"features in {path} must be a non-empty 2-D (N, D) array; got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DeepclustError(f"features in {path} contain NaN or infinite values")
    return x


def _read_table(
    path: Path, label_column: str | None, classes: list[str] | None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    import pandas as pd

    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as e:  # pandas/pyarrow raise many types for a malformed file
        raise DeepclustError(f"cannot read feature table {path}: {e}") from e
    if label_column is not None and label_column not in df.columns:
        raise DeepclustError(f"label_column '{label_column}' not in {path}; columns: {list(df.columns)}")
    if label_column is None and "label" in df.columns:
        label_column = "label"
    labels, names = None, None
    if label_column is not None:
        col = df.pop(label_column)
        if col.isna().any():
            raise DeepclustError(f"label column '{label_column}' of {path} has missing values")
        if col.dtype.kind in "iuf":
            labels = as_labels(col.to_numpy(), f"{path} column '{label_column}'")
        else:  # string classes: codes index the sorted train class names
            names = classes or sorted(col.astype(str).unique())
            codes = pd.Categorical(col.astype(str), categories=names).codes
            if (codes < 0).any():
                unknown = sorted(set(col.astype(str)) - set(names))[:5]
                raise DeepclustError(f"labels {unknown} in {path} are not train classes {names}")
            labels = codes.astype(np.int64)
    bad = [c for c in df.columns if df[c].dtype.kind not in "iufb"]
    if bad:
        raise DeepclustError(f"feature columns of {path} must be numeric; non-numeric: {bad[:5]}")
    return _check_features(df.to_numpy(), path), labels, names


def _read_split(
    root: Path, options: dict[str, Any], key: str, classes: list[str] | None = None
) -> tuple[Split, list[str] | None, Path]:
    path = resolve_input(root, options.get(key), key)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DeepclustError(f"cannot read feature array {path}: {e}") from e
        labels = None
        if options.get(f"{key}_labels") is not None:
            lpath = resolve_input(root, options[f"{key}_labels"], f"{key}_labels")
            labels = as_labels(np.load(lpath, allow_pickle=False), str(lpath))
        feats, names = _check_features(x, path), None
    elif suffix in _TABLE_SUFFIXES:
        feats, labels, names = _read_table(path, options.get("label_column"), classes)
    else:
        raise DeepclustError(f"{key} feature file {path} must end in .npy, .parquet or .csv")
    if labels is not None and len(labels) != len(feats):
        raise DeepclustError(f"{key} labels have {len(labels)} rows but {path} has {len(feats)}")
    ids = sample_ids(f"{path.name}:", range(len(feats)))
    return Split(images=None, labels=labels, features=feats, ids=ids), names, path


def load_features(root: Path, **options: Any) -> PreparedData:
    """Loads a precomputed feature table (no images).

    Sample ids are `<file name>:<row>` ("emb.npy:17"). The card has `image_shape` None and
    `feature_dim` D.

    Options:
        train: .npy (N, D) array, or .parquet/.csv table whose non-label columns are the D features.
        test: same for the test split; when absent, test is train.
        label_column: label column of a table (default "label" when present); string labels are
            mapped to codes of the sorted class names.
        train_labels, test_labels: int .npy (N,) label files for .npy features (optional).

    Returns:
        PreparedData whose splits hold features float32 (N, D), images None, labels int64 (N,) or None.
    """
    reject_unknown(options, {"train", "test", "label_column", "train_labels", "test_labels"}, "features")
    train, names, train_path = _read_split(root, options, "train")
    test, test_path = train, None
    if options.get("test") is not None:
        test, _, test_path = _read_split(root, options, "test", names)
        assert train.features is not None and test.features is not None
        d_train, d_test = train.features.shape[1], test.features.shape[1]
        if d_test != d_train:
            raise DeepclustError(
                f"test features {test_path} have D={d_test}, expected D={d_train} like train"
            )
    card = make_card(
        "features",
        train_path.stem,
        train,
        test,
        None,
        names,
        [],
        files=source_files(options),
    )
    return PreparedData(train, test, None, names, card)

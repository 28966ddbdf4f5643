"""Cluster predictions: the CSV that every clustering stage writes and `evaluate` reads, whatever the method.

Format: UTF-8 CSV, one row per sample, the splits in the order they were given:

    split,id,cluster[,prob_0,...,prob_{K-1}]

`split` is train, test or unlabeled; `id` is the sample id of the prepared split (`Split.ids`);
`cluster` is an integer in [0, K). The `prob_k` columns (6 decimals, rows sum to 1) are there when the
method gives probabilities, and their count records K. Without them the file does not store K: a
reader that needs it takes it from the method's settings, or `max(cluster) + 1` as a lower bound.

Example:
    >>> preds = {"train": SplitPredictions(np.array(["digits/0", "digits/3"]), np.array([1, 0]), None)}
    >>> write_predictions("out/predictions.csv", preds, num_clusters=10)
    >>> read_predictions("out/predictions.csv")["train"].clusters
    array([1, 0])
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepclust.errors import DeepclustError
from deepclust.io import atomic_path, require_file

if TYPE_CHECKING:
    import pandas as pd

SPLIT_NAMES = ("train", "test", "unlabeled")

_COLUMNS = ("split", "id", "cluster")
_PROB_COLUMN = re.compile(r"prob_(\d+)")


@dataclass(frozen=True)
class SplitPredictions:
    """The clustering of one split.

    Attributes:
        ids: str (N,), the split's sample ids (unique).
        clusters: int64 (N,), values in [0, num_clusters).
        probabilities: float32 (N, num_clusters) with rows summing to 1, or None when the method
            gives hard assignments only (k-means).
    """

    ids: np.ndarray
    clusters: np.ndarray
    probabilities: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Normalise dtypes once here so that the writer and every reader see the same types.
        ids, clusters = np.asarray(self.ids), np.asarray(self.clusters)
        if ids.ndim != 1 or ids.dtype.kind not in "UO":
            raise DeepclustError(f"prediction ids must be strings (N,); got {ids.dtype} {ids.shape}")
        if clusters.shape != ids.shape or clusters.dtype.kind not in "iu":
            raise DeepclustError(
                f"prediction clusters must be integers of shape {ids.shape}; got {clusters.dtype} {clusters.shape}"
            )
        object.__setattr__(self, "ids", ids.astype(str))
        object.__setattr__(self, "clusters", clusters.astype(np.int64))
        if self.probabilities is not None:
            probs = np.asarray(self.probabilities, dtype=np.float32)
            if probs.ndim != 2 or len(probs) != len(ids):
                raise DeepclustError(f"prediction probabilities must be (N={len(ids)}, K); got {probs.shape}")
            object.__setattr__(self, "probabilities", probs)


def _sum_tolerance(num_clusters: int) -> float:
    # float32 softmax rows are within ~1e-6 of 1; rounding each of K values to 6 decimals adds 5e-7 each.
    return 1e-3 + 5e-7 * num_clusters


def _check_split(name: str, preds: SplitPredictions, num_clusters: int, where: str) -> None:
    """Raises a one-line DeepclustError for anything `read_predictions` would refuse."""
    if name not in SPLIT_NAMES:
        raise DeepclustError(f"unknown split '{name}' in {where}; expected one of {SPLIT_NAMES}")
    values, counts = np.unique(preds.ids, return_counts=True)
    if len(values) != len(preds.ids):
        raise DeepclustError(f"duplicate ids in split '{name}' of {where}: {values[counts > 1][:3].tolist()}")
    if len(preds.clusters) and (preds.clusters.min() < 0 or preds.clusters.max() >= num_clusters):
        raise DeepclustError(
            f"clusters in split '{name}' of {where} must be in [0, {num_clusters}); "
            f"got [{preds.clusters.min()}, {preds.clusters.max()}]"
        )
    probs = preds.probabilities
    if probs is None:
        return
    if probs.shape[1] != num_clusters:
        raise DeepclustError(
            f"probabilities in split '{name}' of {where} have {probs.shape[1]} columns; expected K={num_clusters}"
        )
    sums = probs.sum(1, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(sums) | (np.abs(sums - 1.0) > _sum_tolerance(num_clusters)))
    if len(bad) or probs.min(initial=0.0) < 0.0:
        row = int(bad[0]) if len(bad) else int(np.argmin(probs.min(1)))
        raise DeepclustError(
            f"probabilities in split '{name}' of {where} must be >= 0 and sum to 1; "
            f"id {str(preds.ids[row])!r} sums to {sums[row]:.6f}"
        )


def write_predictions(
    path: str | os.PathLike[str], predictions: Mapping[str, SplitPredictions], num_clusters: int
) -> None:
    """Writes the predictions CSV atomically (a crash leaves the previous file or none).

    Args:
        path: the CSV to write.
        predictions: split name (train, test, unlabeled) -> its predictions, written in this order.
            Either every split has probabilities or none has.
        num_clusters: K; clusters must lie in [0, K) and probabilities have K columns.

    Raises:
        DeepclustError: an invalid split name, duplicate ids, clusters out of range, or probabilities
            of the wrong width or not summing to 1.
    """
    import pandas as pd

    where = f"predictions for {path}"
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, (int, np.integer)) or num_clusters < 1:
        raise DeepclustError(f"num_clusters for {where} must be a positive integer; got {num_clusters!r}")
    if not predictions:
        raise DeepclustError(f"no splits to write in {where}")
    if len({p.probabilities is None for p in predictions.values()}) > 1:
        raise DeepclustError(f"either every split in {where} has probabilities or none has")
    parts = []
    for name, preds in predictions.items():
        _check_split(name, preds, num_clusters, where)
        columns = {"split": [name] * len(preds.ids), "id": preds.ids, "cluster": preds.clusters}
        if preds.probabilities is not None:
            columns |= {f"prob_{k}": preds.probabilities[:, k] for k in range(num_clusters)}
        parts.append(pd.DataFrame(columns))
    frame = pd.concat(parts, ignore_index=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n", encoding="utf-8")


def _probability_columns(columns: list[str], path: Path) -> list[str]:
    found = sorted((int(m.group(1)), c) for c in columns if (m := _PROB_COLUMN.fullmatch(c)))
    if [k for k, _ in found] != list(range(len(found))):
        raise DeepclustError(
            f"probability columns of {path} must be prob_0..prob_(K-1); got {[c for _, c in found][:5]}"
        )
    return [c for _, c in found]


def _parse_clusters(text: np.ndarray, path: Path) -> np.ndarray:
    ok = np.array([s.isascii() and s.isdigit() for s in text], dtype=bool)
    if not ok.all():
        row = int(np.argmin(ok))
        raise DeepclustError(f"column cluster of {path} must hold integers >= 0; row {row} has {str(text[row])!r}")
    return text.astype(np.int64)


def _parse_probabilities(frame: pd.DataFrame, columns: list[str], path: Path) -> np.ndarray:
    try:
        return frame[columns].to_numpy().astype(np.float32)
    except ValueError as e:
        raise DeepclustError(f"probability columns of {path} must hold numbers: {e}") from e


def read_predictions(path: str | os.PathLike[str]) -> dict[str, SplitPredictions]:
    """Reads and validates a predictions CSV written by `write_predictions`.

    Ids come back exactly as written ("007", "NA" and "" stay strings). K is the number of probability
    columns when there are any; otherwise the file does not record it.

    Returns:
        split name -> SplitPredictions, in the order the splits first appear in the file.

    Raises:
        DeepclustError: the file is missing or unreadable, lacks a column, names an unknown split,
            repeats an id within a split, has a cluster that is not an integer >= 0 (or >= K), or a
            probability row that does not sum to 1. The message names the file.
    """
    import pandas as pd

    file = require_file(path, "predictions")
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (OSError, ValueError) as e:  # EmptyDataError, ParserError, UnicodeDecodeError are ValueErrors
        raise DeepclustError(f"cannot read predictions {file}: {' '.join(str(e).split())}") from e
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise DeepclustError(f"predictions {file} lack column(s) {missing}; columns: {list(frame.columns)[:8]}")
    if frame.empty:
        raise DeepclustError(f"predictions {file} have no rows")
    prob_columns = _probability_columns(list(frame.columns), file)
    splits = frame["split"].to_numpy().astype(str)
    unknown = sorted(set(splits.tolist()) - set(SPLIT_NAMES))
    if unknown:
        raise DeepclustError(f"unknown split(s) {unknown[:3]} in {file}; expected some of {SPLIT_NAMES}")
    ids = frame["id"].to_numpy().astype(str)
    clusters = _parse_clusters(frame["cluster"].to_numpy().astype(str), file)
    probs = _parse_probabilities(frame, prob_columns, file) if prob_columns else None
    num_clusters = len(prob_columns) if prob_columns else int(clusters.max()) + 1
    out = {}
    for name in dict.fromkeys(splits):
        rows = splits == name
        preds = SplitPredictions(ids[rows], clusters[rows], None if probs is None else probs[rows])
        _check_split(name, preds, num_clusters, str(file))
        out[name] = preds
    return out

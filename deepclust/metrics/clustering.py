"""Clustering accuracy (Hungarian and majority vote), NMI and ARI against ground-truth labels."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from deepclust.errors import DeepclustError


def _as_labels(values: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DeepclustError(f"{name} must be a 1-D array of integer labels, got shape {array.shape}")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise DeepclustError(f"{name} must hold integer labels, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if len(true) != len(pred):
        raise DeepclustError(f"y_true and y_pred must have the same length, got {len(true)} and {len(pred)}")
    if len(true) == 0:
        raise DeepclustError("y_true and y_pred are empty; need at least one sample")
    return true, pred


def _table(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes, true_index = np.unique(y_true, return_inverse=True)
    clusters, pred_index = np.unique(y_pred, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (pred_index, true_index), 1)
    return table, clusters, classes


def contingency(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> np.ndarray:
    """Counts of samples per (cluster, class) pair.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).

    Returns:
        int64 counts; row r is the r-th smallest cluster id, column c the c-th smallest class id.
        Shape: (num_clusters, num_classes).

    Raises:
        DeepclustError: If the inputs are empty, differ in length, or are not integer labels.
    """
    return _table(*_check(y_true, y_pred))[0]


def hungarian_mapping(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[int, int]:
    """One-to-one cluster -> class mapping that maximises the number of correctly matched samples.

    Solved with scipy's `linear_sum_assignment` on the contingency table. A rectangular table is
    equivalent to padding it with zero rows or columns: with more clusters than classes the extra
    clusters stay unmatched, with fewer, some classes do.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).

    Returns:
        {cluster id: class id} for the min(num_clusters, num_classes) matched clusters.

    Raises:
        DeepclustError: If the inputs are empty, differ in length, or are not integer labels.
    """
    table, clusters, classes = _table(*_check(y_true, y_pred))
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols, strict=True)}


def hungarian_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Accuracy after the one-to-one Hungarian mapping of clusters to classes.

    Samples in clusters left unmatched (more clusters than classes) count as wrong.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).

    Returns:
        The accuracy in [0, 1].

    Raises:
        DeepclustError: If the inputs are empty, differ in length, or are not integer labels.
    """
    table, _, _ = _table(*_check(y_true, y_pred))
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def majority_vote_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Accuracy when each cluster is mapped to its most frequent class (many-to-one).

    This is how the SCAN repository scores overclustering.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).

    Returns:
        The accuracy in [0, 1].

    Raises:
        DeepclustError: If the inputs are empty, differ in length, or are not integer labels.
    """
    table, _, _ = _table(*_check(y_true, y_pred))
    return float(table.max(axis=1).sum() / table.sum())


def clustering_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float | int]:
    """All clustering metrics of one prediction, as plain Python numbers for JSON.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).

    Returns:
        A dict with `acc` (Hungarian accuracy), `nmi` (sklearn, arithmetic average), `ari`,
        `num_clusters` and `num_classes` (distinct ids present), `num_samples`, and `majority_acc`
        (majority-vote accuracy) only when there are more clusters than classes.

    Raises:
        DeepclustError: If the inputs are empty, differ in length, or are not integer labels.
    """
    true, pred = _check(y_true, y_pred)
    num_clusters, num_classes = len(np.unique(pred)), len(np.unique(true))
    metrics: dict[str, float | int] = {
        "acc": hungarian_accuracy(true, pred),
        "nmi": float(normalized_mutual_info_score(true, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(true, pred)),
        "num_clusters": num_clusters,
        "num_classes": num_classes,
        "num_samples": len(true),
    }
    if num_clusters > num_classes:
        metrics["majority_acc"] = majority_vote_accuracy(true, pred)
    return metrics

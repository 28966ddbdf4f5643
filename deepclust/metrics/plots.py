"""PNG figures for clustering results: confusion matrix, image grid per cluster, training curves, cluster sizes
and the evidence of a K estimate.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so importing this module never
changes the process-wide backend, and every file is written atomically.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepclust.errors import DeepclustError
from deepclust.io import write_atomic
from deepclust.metrics.clustering import _as_labels, _check, _table, hungarian_mapping

# Counts are written into the cells only up to this many rows or columns; beyond, they are unreadable.
_MAX_ANNOTATED = 20


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    FigureCanvasAgg(fig)
    # The temporary name ends in .tmp, so the format must be given explicitly.
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))


def plot_confusion_matrix(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    path: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
) -> Path:
    """Draws the class x cluster count matrix, clusters ordered by their Hungarian-matched class.

    Columns are the clusters matched to classes 0, 1, ... in class order, then unmatched clusters in id
    order, so a perfect clustering shows a diagonal. Counts are written in the cells when there are at
    most 20 classes and 20 clusters.

    Args:
        y_true: Ground-truth class ids. Shape: (num_samples,).
        y_pred: Predicted cluster ids. Shape: (num_samples,).
        path: Output PNG path.
        class_names: Names indexed by class id; class ids are shown when None.

    Returns:
        The written path.

    Raises:
        DeepclustError: If the labels are invalid or class_names does not cover every class id.
    """
    true, pred = _check(y_true, y_pred)
    table, clusters, classes = _table(true, pred)
    mapping = hungarian_mapping(true, pred)
    matched = {cls: cluster for cluster, cls in mapping.items()}
    order = [matched[int(c)] for c in classes if int(c) in matched]
    order += [int(c) for c in clusters if int(c) not in mapping]
    column_of = {int(c): i for i, c in enumerate(clusters)}
    matrix = table[[column_of[c] for c in order]].T  # (num_classes, num_clusters)
    if class_names is not None:
        if classes.min() < 0 or classes.max() >= len(class_names):
            raise DeepclustError(
                f"class_names has {len(class_names)} entries but y_true holds class ids "
                f"{classes.min()}..{classes.max()}"
            )
        row_labels = [str(class_names[int(c)]) for c in classes]
    else:
        row_labels = [str(int(c)) for c in classes]

    fig = Figure(figsize=(max(4.0, 0.5 * len(order) + 2), max(3.0, 0.5 * len(classes) + 1.5)))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(order)), [str(c) for c in order], rotation=90 if len(order) > 20 else 0)
    ax.set_yticks(range(len(classes)), row_labels)
    ax.set_xlabel("cluster (Hungarian order)")
    ax.set_ylabel("true class")
    if max(matrix.shape) <= _MAX_ANNOTATED:
        threshold = matrix.max() / 2
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(
                col,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if count > threshold else "black",
            )
    return _save(fig, path)


def plot_cluster_grid(
    images: np.ndarray,
    y_pred: npt.ArrayLike,
    path: str | os.PathLike[str],
    per_cluster: int = 8,
    seed: int = 0,
) -> Path:
    """Draws one row per cluster with up to `per_cluster` randomly chosen member images.

    Args:
        images: uint8 images, 1 (grayscale) or 3 (RGB) channels last.
            Shape: (num_samples, height, width, channels).
        y_pred: Predicted cluster ids. Shape: (num_samples,).
        path: Output PNG path.
        per_cluster: Images shown per cluster; smaller clusters leave blank cells.
        seed: Seed of the sample choice.

    Returns:
        The written path.

    Raises:
        DeepclustError: If images is not uint8 (N, H, W, 1 or 3), lengths differ, or per_cluster < 1.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DeepclustError(
            f"images must be uint8 with shape (N, H, W, 1 or 3), got {images.dtype} {images.shape}"
        )
    pred = _as_labels(y_pred, "y_pred")
    if len(pred) != len(images) or len(pred) == 0:
        raise DeepclustError(
            f"y_pred must have one label per image, got {len(pred)} labels for {len(images)} images"
        )
    if per_cluster < 1:
        raise DeepclustError(f"per_cluster must be >= 1, got {per_cluster}")
    rng = np.random.default_rng(seed)
    clusters = np.unique(pred)
    height, width, channels = images.shape[1:]
    gap = 2
    # One mosaic drawn with a single imshow: fast even for hundreds of clusters.
    mosaic = np.full(
        (len(clusters) * (height + gap) - gap, per_cluster * (width + gap) - gap, channels),
        255,
        dtype=np.uint8,
    )
    counts = []
    for row, cluster in enumerate(clusters):
        members = np.flatnonzero(pred == cluster)
        counts.append(len(members))
        chosen = np.sort(rng.choice(members, size=min(per_cluster, len(members)), replace=False))
        for col, index in enumerate(chosen):
            top, left = row * (height + gap), col * (width + gap)
            mosaic[top : top + height, left : left + width] = images[index]

    # About 0.6 inch per image, shrunk so a figure with many clusters stays under 60 inches tall.
    cell = min(0.6, 60 / len(clusters))
    fig = Figure(figsize=(per_cluster * cell * width / height + 1.5, len(clusters) * cell + 0.5))
    ax = fig.add_subplot()
    if channels == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(
        [row * (height + gap) + height / 2 for row in range(len(clusters))],
        [f"{int(c)} (n={n})" for c, n in zip(clusters, counts, strict=True)],
    )
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return _save(fig, path)


def _read_rows(csv_or_rows: str | os.PathLike[str] | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(csv_or_rows, (str, os.PathLike)):
        csv_path = Path(csv_or_rows)
        if not csv_path.is_file():
            raise DeepclustError(f"curves file {csv_path} does not exist")
        with csv_path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    return list(csv_or_rows)


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def plot_curves(
    csv_or_rows: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    x: str = "epoch",
    ys: Sequence[str] | None = None,
) -> Path:
    """Draws training curves, one panel per column, against a shared x column.

    Args:
        csv_or_rows: A CSV file with a header row, or a sequence of dict rows (e.g. a metrics log).
            Empty or non-numeric cells are skipped.
        path: Output PNG path.
        x: Column on the horizontal axis.
        ys: Columns to draw; every column other than x that holds a number when None.

    Returns:
        The written path.

    Raises:
        DeepclustError: If there are no rows, the CSV is missing, or a named column is absent.
    """
    rows = _read_rows(csv_or_rows)
    if not rows:
        raise DeepclustError("csv_or_rows holds no rows; need at least one to plot curves")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if ys is None:
        ys = [c for c in columns if c != x and any(math.isfinite(_as_float(row.get(c))) for row in rows)]
    missing = [c for c in [x, *ys] if c not in columns]
    if missing or not ys:
        raise DeepclustError(f"curve columns {missing or list(ys)} not found or empty; available: {columns}")

    xs = np.array([_as_float(row.get(x)) for row in rows])
    fig = Figure(figsize=(6.0, 2.2 * len(ys)))
    axes = fig.subplots(len(ys), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, ys, strict=True):
        values = np.array([_as_float(row.get(name)) for row in rows])
        keep = np.isfinite(xs) & np.isfinite(values)
        ax.plot(xs[keep], values[keep], marker="." if keep.sum() < 50 else None)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(x)
    fig.tight_layout()
    return _save(fig, path)


def plot_cluster_sizes(sizes: Sequence[int], path: str | os.PathLike[str]) -> Path:
    """Draws the number of samples in each cluster as bars, largest first, with the uniform share dashed.

    Args:
        sizes: Samples per cluster, indexed by cluster id (an empty cluster is a 0).
        path: Output PNG path.

    Returns:
        The written path.

    Raises:
        DeepclustError: If there is no cluster or a size is negative.
    """
    counts = np.asarray(sizes, dtype=np.int64)
    if counts.ndim != 1 or len(counts) == 0 or (counts < 0).any():
        raise DeepclustError(f"sizes must be a non-empty list of counts >= 0, got {list(counts)[:10]}")
    order = np.argsort(-counts, kind="stable")
    fig = Figure(figsize=(min(max(4.0, 0.25 * len(counts) + 1.5), 16.0), 2.8))
    ax = fig.add_subplot()
    ax.bar(range(len(counts)), counts[order], color="#4c72b0")
    ax.axhline(counts.sum() / len(counts), color="black", linestyle="--", linewidth=1, label="uniform")
    if len(counts) <= 40:
        ax.set_xticks(range(len(counts)), [str(int(c)) for c in order], fontsize=7)
    else:
        ax.set_xticks([])
    ax.set_xlabel("cluster (largest first)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_k_estimate(
    ks: Sequence[int],
    criteria: Mapping[str, Sequence[float]],
    k: int,
    path: str | os.PathLike[str],
    decided_by: str = "",
) -> Path:
    """Draws each criterion of a K estimate against K, one panel per criterion, the chosen K marked.

    Takes plain values (`deepclust.cluster.KEstimate`'s fields), so this module does not depend on the
    clustering code.

    Args:
        ks: The candidate Ks, increasing.
        criteria: Each criterion's value per candidate K (NaN where not computed).
        k: The chosen K.
        path: Output PNG path.
        decided_by: The criterion or rule that chose K, shown in the title.

    Returns:
        The written path.

    Raises:
        DeepclustError: If there is no criterion or a criterion's length differs from `ks`.
    """
    names = list(criteria)
    if not names or any(len(criteria[name]) != len(ks) for name in names):
        raise DeepclustError(f"criteria must give one value per K ({len(ks)}) for at least one criterion")
    fig = Figure(figsize=(6.0, 1.9 * len(names) + 0.6))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    xs = np.asarray(ks)
    for ax, name in zip(axes, names, strict=True):
        values = np.asarray(criteria[name], dtype=float)
        keep = np.isfinite(values)
        ax.plot(xs[keep], values[keep], marker="o", markersize=3)
        ax.axvline(k, color="tab:red", linestyle="--", linewidth=1)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"K = {k}" + (f" ({decided_by})" if decided_by else ""), fontsize=9)
    axes[-1].set_xlabel("K")
    axes[-1].set_xticks(xs if len(xs) <= 30 else xs[:: max(1, len(xs) // 15)])
    fig.tight_layout()
    return _save(fig, path)

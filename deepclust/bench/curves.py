"""Budget curves scored: the clusters a training stage kept after each epoch (`run/curve.npz`, written by
stages/curve.py without labels) against the labels, per epoch and per minute of training."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepclust.metrics import hungarian_accuracy


def score_curve(path: Path, labels: np.ndarray) -> list[tuple[int, float, float]]:
    """(epoch, training minutes, Hungarian ACC against `labels`) of every epoch the curve file at `path` recorded;
    [] when there is no such file (the stage keeps no curve)."""
    path = Path(path)
    if not path.exists():
        return []
    with np.load(path) as f:
        epochs, seconds, assignments = f["epochs"], f["seconds"], f["assignments"]
    if assignments.shape[1] != len(labels):
        raise ValueError(f"{path} has {assignments.shape[1]} samples, the scored split {len(labels)}")
    return [(int(e), round(float(s) / 60, 2), round(hungarian_accuracy(labels, a), 4))
            for e, s, a in zip(epochs, seconds, assignments, strict=True)]


def within(curve: list[tuple[int, float, float]] | tuple[tuple[int, float, float], ...], minutes: float
           ) -> float | None:
    """The ACC of the last epoch finished within `minutes` of training; None when none was."""
    done = [acc for _, m, acc in curve if m <= minutes]
    return done[-1] if done else None

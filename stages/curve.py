"""Budget curves: the test split's cluster of every sample after each epoch that trained the predicting head, with
the training seconds spent so far, kept in the stage's run directory (`run/curve.npz`). Stages that leave the
clustering to a k-means downstream record the clusters of a k-means on their features (stages/kmeans_curve.py).

The stage writes them without reading a label, as it writes its final predictions; `scripts/budget_curve.py`
scores them afterwards (ACC per epoch and per minute: is the budget or the recipe the limit?). A resumed run
keeps the epochs it had; a changed run (another fingerprint) starts a new curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepclust.io import atomic_path

CURVE_FILE = "curve.npz"


class BudgetCurve:
    """Appends (epoch, seconds, assignments) rows to `run_dir/curve.npz`, rewritten atomically after each.

    Args:
        run_dir: The stage's persistent run directory.
        fingerprint: The run's fingerprint; a file with another one is replaced.
        elapsed: Training seconds already spent before this curve's first epoch (an attempt that restarted).
    """

    def __init__(self, run_dir: Path, fingerprint: str, elapsed: float = 0.0) -> None:
        self.path = Path(run_dir) / CURVE_FILE
        self.fingerprint = fingerprint
        self.epochs: list[int] = []
        self.seconds: list[float] = []
        self.assignments: list[np.ndarray] = []
        self._elapsed = elapsed  # training seconds of every epoch so far, those not recorded included
        if self.path.exists():
            with np.load(self.path) as f:
                if str(f["fingerprint"]) == fingerprint:
                    self.epochs, self.seconds = [int(e) for e in f["epochs"]], [float(s) for s in f["seconds"]]
                    self.assignments = list(f["assignments"])
                    self._elapsed = self.seconds[-1] if self.seconds else 0.0

    @property
    def elapsed(self) -> float:
        """Training seconds counted so far."""
        return self._elapsed

    def tick(self, epoch_seconds: float) -> None:
        """Counts one more epoch's training seconds (every epoch, recorded or not)."""
        self._elapsed += float(epoch_seconds)

    def record(self, epoch: int, assignments: np.ndarray, is_main: bool = True) -> None:
        """Keeps the clusters (N,) after epoch `epoch` (1-based) and saves the file (main process only)."""
        self.epochs.append(int(epoch))
        self.seconds.append(round(self._elapsed, 2))
        self.assignments.append(np.asarray(assignments, dtype=np.int32))
        if is_main:
            with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:  # a file object: no ".npz" appended
                np.savez(fh, fingerprint=np.array(self.fingerprint), epochs=np.array(self.epochs),
                         seconds=np.array(self.seconds), assignments=np.stack(self.assignments))


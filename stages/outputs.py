"""A stage's small outputs, written last: predictions.csv, then metrics.json (whose presence means all is there)."""

from __future__ import annotations

from typing import Any

from deepclust.data import SplitPredictions, write_predictions
from deepclust.io import write_json
from stages.common import Job


def write_outputs(job: Job, metrics: dict[str, Any],
                  predictions: dict[str, SplitPredictions] | None = None) -> None:
    """Writes `--out`/predictions.csv (when given) and `--out`/metrics.json (with the run's seed and device)."""
    out = job.args.out
    if predictions is not None:
        first = next(iter(predictions.values()))
        num_clusters = first.probabilities.shape[1] if first.probabilities is not None else None
        write_predictions(out / "predictions.csv", predictions, num_clusters)
    write_json(out / "metrics.json", {**metrics, "seed": job.args.seed, "device": str(job.runtime.device)})

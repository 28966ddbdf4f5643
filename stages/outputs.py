"""A stage's small outputs, written last: predictions.csv, then metrics.json (whose presence means all is there)."""

from __future__ import annotations

from typing import Any

from deepclust.data import SplitPredictions, write_predictions
from deepclust.io import write_json
from deepclust.metrics import cluster_usage
from stages.common import Job


def write_outputs(job: Job, metrics: dict[str, Any],
                  predictions: dict[str, SplitPredictions] | None = None) -> None:
    """Writes `--out`/predictions.csv (when given) and `--out`/metrics.json (with the run's seed and device, and
    with predictions the collapse guard's cluster usage of the first split, the training one)."""
    out = job.args.out
    if predictions is not None:
        probabilities = next(iter(predictions.values())).probabilities
        assert probabilities is not None, "every clustering stage writes cluster probabilities"
        num_clusters = int(probabilities.shape[1])
        write_predictions(out / "predictions.csv", predictions, num_clusters)
        # The collapse guard, on the training split: said in the log and kept in the metrics.
        usage = cluster_usage(next(iter(predictions.values())).clusters, num_clusters)
        metrics = {**metrics, **usage.as_metrics()}
        if usage.collapsed:
            print(f"[{job.name}] warning: the clustering of the training split {usage.describe()}", flush=True)
    write_json(out / "metrics.json", {**metrics, "seed": job.args.seed, "device": str(job.runtime.device)})

"""A stage's small outputs, written last: predictions.csv, params.json (the settings it ran with), then
metrics.json (whose presence means all is there)."""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import torch

from deepclust.data import SplitPredictions, write_predictions
from deepclust.io import write_json
from deepclust.metrics import cluster_usage
from stages.common import Job


def write_outputs(job: Job, metrics: dict[str, Any],
                  predictions: dict[str, SplitPredictions] | None = None) -> None:
    """Writes `--out`/predictions.csv (when given), `--out`/params.json and `--out`/metrics.json (with the run's
    seed, device and precision, and with predictions the collapse guard's cluster usage of the first split, the
    training one)."""
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
    write_json(out / "params.json", job.params_record())
    precision = "bf16" if job.runtime.amp_dtype == torch.bfloat16 else "fp32"
    write_json(out / "metrics.json", {**metrics, "seed": job.args.seed, "device": str(job.runtime.device),
                                      "precision": precision, **resources()})


def process_seconds() -> float:
    """Wall seconds since this process started (imports included, as `dvc repro` sees the stage)."""
    try:  # /proc/self/stat field 22: start time in clock ticks after boot
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.process_time()


def resources() -> dict[str, Any]:
    """What the stage cost and ran on, for the bench table: wall seconds, peak resident memory, torch's
    thread count, and the GPU's peak allocation when there is one."""
    found: dict[str, Any] = {
        "stage_seconds": round(process_seconds(), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # Linux: KiB
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        found["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return found

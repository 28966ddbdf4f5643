"""The budget curve of a stage that a k-means follows (DeepCluster, PCL, IDFD, DEC's autoencoder): it makes no
clusters itself, so after every epoch a k-means on its features gives the clusters the curve keeps. A module of
its own so that the stages which predict clusters do not import the k-means (nor re-run when it changes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from deepclust.cluster import distances, kmeans
from deepclust.engine import predict
from stages.common import Job
from stages.curve import BudgetCurve
from stages.inputs import ModelInputs


def kmeans_curve(job: Job, features: nn.Module, inputs: ModelInputs, fp: str, l2_normalize: bool = True,
                 fit_samples: int = 10_000) -> Callable[[int, dict[str, float]], None] | None:
    """`on_epoch_end` for the stages whose clusters k-means makes downstream (DeepCluster, PCL, IDFD; DEC's
    autoencoder): after every epoch, k-means with K = the data set's classes, fitted on FEATURES' output for a
    fixed random subset of the training split (unit-norm rows when `l2_normalize`, as those pipelines' k-means),
    assigns the test split, and the budget curve keeps those clusters. No labels; None when the data set does not
    state its number of classes (`auto`), as there is then no K to cluster with."""
    k = job.facts.get("num_classes")
    if not isinstance(k, int) or job.args.run_dir is None:
        return None
    transform = inputs.eval_transform(job)
    order = torch.randperm(len(inputs.train), generator=torch.Generator().manual_seed(job.args.seed))
    fit_rows = inputs.train[order[:fit_samples]]
    curve = BudgetCurve(job.args.run_dir, fp)

    def embed(rows: torch.Tensor) -> np.ndarray:
        x = predict(features, rows, transform, job.runtime, 512, "curve").flatten(1).numpy()
        if l2_normalize:
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(x, dtype=np.float32)

    def record(epoch: int, metrics: dict[str, float]) -> None:
        curve.tick(metrics["seconds"])
        centroids = kmeans(embed(fit_rows), k, seed=job.args.seed, niter=20, nredo=1).centroids
        curve.record(epoch + 1, distances(embed(inputs.test), centroids).argmin(1), job.runtime.is_main)

    return record

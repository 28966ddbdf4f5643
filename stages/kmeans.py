"""kmeans: k-means on the upstream features (faiss, or torch), predictions for the train and test splits."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from deepclust.cluster import PCA, distances, kmeans
from deepclust.data import SplitPredictions
from stages.common import entry, parser, split_features, start
from stages.kinds.kmeans import KmeansParams
from stages.outputs import write_outputs


def _preprocess(train: np.ndarray, others: list[np.ndarray], p) -> list[np.ndarray]:
    """PCA (+ whitening) fitted on the training rows, then L2 normalisation, as params ask."""
    rows = [train, *others]
    if p.pca_dim is not None:
        pca = PCA(p.pca_dim, whiten=p.whiten).fit(train)
        rows = [pca.transform(r) for r in rows]
    if p.l2_normalize:
        rows = [r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12) for r in rows]
    return [np.ascontiguousarray(r, dtype=np.float32) for r in rows]


def soft_assignments(sq_distances: np.ndarray) -> np.ndarray:
    """Student-t kernel (DEC's q with alpha = 1): q_ij proportional to 1 / (1 + ||x_i - mu_j||^2).

    Args:
        sq_distances: Squared distances to the centroids. Shape: (N, K).

    Returns:
        Probabilities, rows sum to 1. Shape: (N, K) float32.
    """
    q = 1.0 / (1.0 + sq_distances.astype(np.float64))
    return (q / q.sum(1, keepdims=True)).astype(np.float32)


@entry
def main(argv: Sequence[str] | None = None) -> int:
    """Fits k-means on the training split's features and assigns every train and test sample."""
    job = start(KmeansParams, parser(__doc__, "data", "features", "out"), argv)
    p, args = job.params, job.args
    k = p.num_clusters
    splits, (train, *others), view = split_features(job, p.features)
    rows = _preprocess(train, others, p)
    t0 = time.perf_counter()
    result = kmeans(rows[0], k, seed=args.seed, niter=p.niter, nredo=p.nredo, spherical=p.spherical,
                    empty_cluster=p.empty_cluster)
    seconds = time.perf_counter() - t0
    predictions = {}
    for (name, split), x in zip(splits.items(), rows, strict=True):
        probs = soft_assignments(distances(x, result.centroids, spherical=p.spherical))
        clusters = result.assignments if name == "train" else probs.argmax(1)
        assert split.ids is not None  # load_prepared always fills them
        predictions[name] = SplitPredictions(split.ids, clusters.astype(np.int64), probs)
    sizes = np.bincount(result.assignments, minlength=k)
    write_outputs(job, {
        "num_clusters": k, "features": view, "dim": int(rows[0].shape[1]), "inertia": result.inertia,
        "backend": result.backend, "seconds": round(seconds, 2), "empty_clusters": int((sizes == 0).sum()),
        "empty_cluster_fixes": result.empty_clusters_fixed,
        "largest_cluster_fraction": round(float(sizes.max() / sizes.sum()), 4)}, predictions)
    print(f"[kmeans] {args.dataset}: K={k} on {rows[0].shape} {view} features, {result.backend}, {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

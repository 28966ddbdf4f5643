"""K-means clustering of feature matrices, with faiss or a torch fallback."""

from __future__ import annotations

import numpy as np
import torch

from deepclust.cluster import knn as _knn
from deepclust.errors import DeepclustError

_ASSIGN_CHUNK = 8192


def kmeans(
    features: np.ndarray, num_clusters: int, *, seed: int = 0, niter: int = 50, nredo: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters the rows of `features` with k-means (squared Euclidean distance).

    Uses `faiss.Kmeans` when faiss is installed (on GPU when faiss has GPU support and one is present),
    trained on all points (no subsampling). Otherwise a torch implementation: k-means++ seeding, Lloyd
    iterations, empty clusters re-seeded at the points farthest from their centroid. Either way the
    best of `nredo` runs by inertia is kept. Features are used as given: L2-normalise them first for
    the SCAN "pretext + K-means" baseline. Deterministic for a given seed on CPU.

    Args:
        features: Feature matrix. Shape: (num_samples, dim).
        num_clusters: Number of clusters K, 2 <= K <= num_samples.
        seed: Seed of the initialisations.
        niter: Lloyd iterations per run.
        nredo: Number of runs with different initialisations.

    Returns:
        (assignments, centroids): int64 cluster ids, Shape: (num_samples,); float32 centroids,
        Shape: (num_clusters, dim).

    Raises:
        DeepclustError: If num_clusters is out of range, niter or nredo < 1, or the features are not a
            finite 2-D array.
    """
    x = _knn._as_matrix(features)
    num_samples = x.shape[0]
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, (int, np.integer)):
        raise DeepclustError(f"num_clusters must be an integer, got {num_clusters!r}")
    if not 2 <= num_clusters <= num_samples:
        raise DeepclustError(
            f"num_clusters must satisfy 2 <= num_clusters <= N, "
            f"got num_clusters={num_clusters} for N={num_samples}"
        )
    if niter < 1 or nredo < 1:
        raise DeepclustError(f"niter and nredo must be >= 1, got niter={niter}, nredo={nredo}")
    if _knn.faiss is not None:
        return _kmeans_faiss(x, int(num_clusters), seed=seed, niter=niter, nredo=nredo)
    return _kmeans_torch(x, int(num_clusters), seed=seed, niter=niter, nredo=nredo)


def _kmeans_faiss(
    x: np.ndarray, num_clusters: int, *, seed: int, niter: int, nredo: int
) -> tuple[np.ndarray, np.ndarray]:
    faiss = _knn.faiss
    assert faiss is not None
    model = faiss.Kmeans(
        x.shape[1],
        num_clusters,
        niter=niter,
        nredo=nredo,
        seed=seed,
        gpu=_knn._faiss_gpu_available(),
        verbose=False,
        # Defaults subsample to 256 points per centroid and warn below 39; train on everything, quietly.
        min_points_per_centroid=1,
        max_points_per_centroid=max(1, -(-x.shape[0] // num_clusters)),
    )
    model.train(x)
    centroids = np.ascontiguousarray(model.centroids, dtype=np.float32)
    _, assignments = model.index.search(x, 1)
    return assignments[:, 0].astype(np.int64), centroids


def _assign(x: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid and squared distance for every row, in chunks to bound memory."""
    centroid_sq = (centroids * centroids).sum(dim=1)
    distances, labels = [], []
    for start in range(0, len(x), _ASSIGN_CHUNK):
        chunk = x[start : start + _ASSIGN_CHUNK]
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, clamped since rounding can make it slightly negative.
        d2 = ((chunk * chunk).sum(dim=1, keepdim=True) - 2 * chunk @ centroids.T + centroid_sq).clamp(min=0)
        best = d2.min(dim=1)
        distances.append(best.values)
        labels.append(best.indices)
    return torch.cat(distances), torch.cat(labels)


def _kmeans_plus_plus(x: torch.Tensor, num_clusters: int, generator: torch.Generator) -> torch.Tensor:
    first = int(torch.randint(len(x), (1,), generator=generator))
    centroids = x[first : first + 1]
    closest = ((x - centroids) ** 2).sum(dim=1)
    for _ in range(1, num_clusters):
        weights = closest.double().cpu()
        # All points coincide with a centroid: any choice is as good; sample uniformly.
        if float(weights.sum()) <= 0:
            weights = torch.ones_like(weights)
        chosen = int(torch.multinomial(weights, 1, generator=generator))
        centroids = torch.cat([centroids, x[chosen : chosen + 1]])
        closest = torch.minimum(closest, ((x - x[chosen]) ** 2).sum(dim=1))
    return centroids


def _lloyd(x: torch.Tensor, centroids: torch.Tensor, niter: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    num_clusters = len(centroids)
    previous: torch.Tensor | None = None
    for _ in range(niter):
        distances, labels = _assign(x, centroids)
        if previous is not None and torch.equal(labels, previous):
            break
        previous = labels
        counts = torch.bincount(labels, minlength=num_clusters)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        centroids = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty) > 0:
            # Re-seed empty clusters at the worst-served points, as faiss does by splitting.
            farthest = distances.argsort(descending=True, stable=True)[: len(empty)]
            centroids[empty] = x[farthest]
    distances, labels = _assign(x, centroids)
    return labels, centroids, float(distances.sum())


def _kmeans_torch(
    x: np.ndarray,
    num_clusters: int,
    *,
    seed: int,
    niter: int,
    nredo: int,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best-of-nredo k-means++ / Lloyd on `device` (CUDA when available by default)."""
    device = torch.device(device) if device is not None else _knn._torch_device()
    points = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    generator = torch.Generator().manual_seed(seed)
    best: tuple[torch.Tensor, torch.Tensor, float] | None = None
    with torch.no_grad():
        for _ in range(nredo):
            result = _lloyd(points, _kmeans_plus_plus(points, num_clusters, generator), niter)
            if best is None or result[2] < best[2]:
                best = result
    assert best is not None
    labels, centroids, _ = best
    return labels.cpu().numpy().astype(np.int64), centroids.cpu().numpy().astype(np.float32)

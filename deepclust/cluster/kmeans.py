"""K-means clustering of feature matrices: faiss when it is installed, else a torch implementation.

`kmeans` returns a `KMeansResult`; `assign` and `distances` map points to given centroids. Both backends
seed with k-means++ (Arthur & Vassilvitskii, 2007; faiss where it offers `ClusteringInitMethod_KMEANS_PLUS_PLUS`,
older faiss seeds with random points) and run Lloyd iterations on all points. With
`spherical=True` rows are L2-normalised and centroids kept at unit norm (spherical k-means, Dhillon &
Modha, 2001), as `faiss.Kmeans(spherical=True)` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple

import numpy as np
import torch

from deepclust.cluster import knn as _knn
from deepclust.errors import DeepclustError

EMPTY_CLUSTER_POLICIES = ("split", "farthest", "keep")
BACKENDS = ("auto", "faiss", "torch")

_CHUNK = 8192
# Relative perturbation of the two halves of a split cluster: EPS in faiss/Clustering.cpp.
_SPLIT_EPS = 1.0 / 1024.0
# Seed stride between runs, faiss's own for its redo loop, so run r of seed s never equals run 0 of seed s + r.
_REDO_SEED_STRIDE = 15486557


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value, so == on fields is meaningless.
class KMeansResult:
    """The kept run of `kmeans`.

    Attributes:
        assignments: int64 index of each point's nearest centroid. Shape: (num_samples,).
        centroids: float32 centroids, unit norm when spherical. Shape: (num_clusters, dim).
        inertia: Sum of squared distances of the points to their centroid; spherical: sum of (1 - cosine).
        backend: "faiss-cpu", "faiss-gpu", "torch-cpu" or "torch-cuda".
        empty_clusters_fixed: How often the empty-cluster policy fired in the kept run (faiss: its own
            split count, -1 when this faiss version does not report it).
    """

    assignments: np.ndarray
    centroids: np.ndarray
    inertia: float
    backend: str
    empty_clusters_fixed: int


class _Run(NamedTuple):
    labels: torch.Tensor
    centroids: torch.Tensor
    inertia: float
    fixed: int


def kmeans(
    features: np.ndarray,
    num_clusters: int,
    *,
    seed: int = 0,
    niter: int = 50,
    nredo: int = 3,
    spherical: bool = False,
    empty_cluster: str = "split",
    backend: str = "auto",
    device: torch.device | str | None = None,
) -> KMeansResult:
    """Clusters the rows of `features` with k-means and keeps the best of `nredo` runs by inertia.

    Every run trains on all points (no subsampling): k-means++ seeding, then up to `niter` Lloyd
    iterations, stopping early once the assignments no longer change. An empty cluster is handled by
    `empty_cluster`:

    - "split" (faiss's rule): pick a cluster with probability proportional to (size - 1), so singletons
      are never split, give the empty cluster a copy of its centroid, perturb the two copies by
      +-1/1024 in alternating coordinates, and let the next assignment divide its points between them.
    - "farthest": re-seed the empty cluster at the point farthest from its centroid.
    - "keep": the empty cluster keeps its previous centroid (DeepCluster-v2, arXiv:2006.09882).

    Features are used as given unless `spherical`: L2-normalise them first for the SCAN "pretext +
    K-means" baseline, or pass `spherical=True`. Deterministic for a given seed on CPU.

    Args:
        features: Feature matrix. Shape: (num_samples, dim).
        num_clusters: Number of clusters K, 2 <= K <= num_samples.
        seed: Seed of the initialisations.
        niter: Maximum Lloyd iterations per run, >= 1.
        nredo: Number of runs with different initialisations, >= 1.
        spherical: Cluster the L2-normalised rows by cosine similarity, with unit-norm centroids.
        empty_cluster: One of `EMPTY_CLUSTER_POLICIES`.
        backend: "auto" (faiss when installed and `empty_cluster` is "split", else torch), "faiss" or
            "torch". faiss runs on GPU when it has GPU support and a GPU is present.
        device: Torch device of the torch backend; CUDA when available by default. Ignored by faiss.

    Returns:
        The kept run as a `KMeansResult`.

    Raises:
        DeepclustError: If the features are not a finite non-empty 2-D array, num_clusters is out of
            range, niter or nredo < 1, empty_cluster or backend is unknown, faiss is requested but not
            installed, or faiss is asked for a policy other than "split".
    """
    x = _knn._as_matrix(features)
    _check_kmeans_args(len(x), num_clusters, niter, nredo, empty_cluster)
    use_faiss = _use_faiss(backend, empty_cluster)
    if spherical:
        x = _knn._normalize(x)
    if use_faiss:
        return _kmeans_faiss(x, int(num_clusters), seed=seed, niter=niter, nredo=nredo, spherical=spherical)
    return _kmeans_torch(
        x,
        int(num_clusters),
        seed=seed,
        niter=niter,
        nredo=nredo,
        spherical=spherical,
        empty_cluster=empty_cluster,
        device=device,
    )


def assign(features: np.ndarray, centroids: np.ndarray, *, spherical: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row and its squared distance, in chunks of rows to bound memory.

    Args:
        features: Points. Shape: (num_samples, dim).
        centroids: Centroids. Shape: (num_clusters, dim).
        spherical: Compare the L2-normalised rows and centroids: the distance is 2 - 2 * cosine.

    Returns:
        (assignments, squared_distances): int64, Shape: (num_samples,); float32, Shape: (num_samples,).

    Raises:
        DeepclustError: If either input is not a finite non-empty 2-D array or their dims differ.
    """
    x, c = _assign_inputs(features, centroids, spherical)
    labels, d2 = [], []
    for block in _distance_blocks(x, c, spherical):
        best = block.min(dim=1)
        labels.append(best.indices.cpu())
        d2.append(best.values.cpu())
    return torch.cat(labels).numpy().astype(np.int64), torch.cat(d2).numpy().astype(np.float32)


def distances(features: np.ndarray, centroids: np.ndarray, *, spherical: bool = False) -> np.ndarray:
    """Squared Euclidean distance of every row to every centroid, in chunks of rows.

    Args:
        features: Points. Shape: (num_samples, dim).
        centroids: Centroids. Shape: (num_clusters, dim).
        spherical: Compare the L2-normalised rows and centroids: the distance is 2 - 2 * cosine.

    Returns:
        float32 distances. Shape: (num_samples, num_clusters).

    Raises:
        DeepclustError: If either input is not a finite non-empty 2-D array or their dims differ.
    """
    x, c = _assign_inputs(features, centroids, spherical)
    return torch.cat([block.cpu() for block in _distance_blocks(x, c, spherical)]).numpy().astype(np.float32)


def _check_kmeans_args(num_samples: int, num_clusters: int, niter: int, nredo: int, empty_cluster: str) -> None:
    if not _is_int(num_clusters) or not 2 <= num_clusters <= num_samples:
        raise DeepclustError(
            f"num_clusters must be an integer with 2 <= K <= N, got num_clusters={num_clusters} for N={num_samples}"
        )
    for name, value in (("niter", niter), ("nredo", nredo)):
        if not _is_int(value) or value < 1:
            raise DeepclustError(f"{name} must be an integer >= 1, got {name}={value}")
    if empty_cluster not in EMPTY_CLUSTER_POLICIES:
        raise DeepclustError(f"empty_cluster must be one of {EMPTY_CLUSTER_POLICIES}, got {empty_cluster!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _use_faiss(backend: str, empty_cluster: str) -> bool:
    """Picks faiss or torch; faiss's built-in empty-cluster handling is the "split" policy, nothing else."""
    if backend not in BACKENDS:
        raise DeepclustError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    if backend == "faiss":
        if empty_cluster != "split":
            raise DeepclustError(
                f"empty_cluster={empty_cluster!r} needs backend='torch' or 'auto': faiss always splits empty clusters"
            )
        if _knn.faiss is None:
            raise DeepclustError("backend='faiss' but faiss is not installed; install faiss-cpu or use backend='torch'")
        return True
    return _knn.faiss is not None and empty_cluster == "split"


def _assign_inputs(features: np.ndarray, centroids: np.ndarray, spherical: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated points on CPU (moved per chunk) and centroids on the default torch device."""
    x = _knn._as_matrix(features)
    c = _knn._as_matrix(centroids, "centroids")
    if c.shape[1] != x.shape[1]:
        raise DeepclustError(f"centroids must have dim {x.shape[1]} like the features, got shape {c.shape}")
    if spherical:
        x, c = _knn._normalize(x), _knn._normalize(c)
    return torch.from_numpy(x), torch.from_numpy(c).to(_knn._torch_device())


def _distance_blocks(x: torch.Tensor, centroids: torch.Tensor, spherical: bool) -> Iterator[torch.Tensor]:
    """Squared distances of `_CHUNK` rows at a time to all centroids, each block Shape: (chunk, K)."""
    centroid_sq = (centroids * centroids).sum(dim=1)
    with torch.no_grad():
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK].to(centroids.device)
            if spherical:
                # Unit rows: ||x - c||^2 = 2 - 2 x.c.
                d2 = 2 - 2 * chunk @ centroids.T
            else:
                d2 = (chunk * chunk).sum(dim=1, keepdim=True) - 2 * chunk @ centroids.T + centroid_sq
            # The expansion can round slightly below zero.
            yield d2.clamp_(min=0)


def _sq_residual_sum(x: torch.Tensor, centroids: torch.Tensor, labels: torch.Tensor) -> float:
    """Sum of ||x - centroid||^2 over rows, from the differences in chunks, in float64.

    Exact where `_distance_blocks`'s expansion loses digits: it rounds at the scale of ||x||^2, not of
    the distance, which decides the best of `nredo` runs when they are close.
    """
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK]
            residual = chunk - centroids[labels[start : start + _CHUNK]]
            total += float((residual.double() ** 2).sum())
    return total


def _inertia(total_sq_distance: float, spherical: bool) -> float:
    # On unit vectors ||x - c||^2 = 2 (1 - cos), so halving gives the sum of (1 - cosine).
    return total_sq_distance / 2 if spherical else total_sq_distance


def _kmeans_faiss(
    x: np.ndarray, num_clusters: int, *, seed: int, niter: int, nredo: int, spherical: bool
) -> KMeansResult:
    """Best of `nredo` single faiss runs; one at a time so the kept run's split count is known."""
    gpu = _knn._faiss_gpu_available()
    seeds = [(seed + redo * _REDO_SEED_STRIDE) % 2**31 for redo in range(nredo)]
    runs = (_faiss_run(x, num_clusters, seed=s, niter=niter, spherical=spherical, gpu=gpu) for s in seeds)
    return min(runs, key=lambda run: run.inertia)


def _faiss_run(x: np.ndarray, num_clusters: int, *, seed: int, niter: int, spherical: bool, gpu: bool) -> KMeansResult:
    faiss = _knn.faiss
    assert faiss is not None
    model = faiss.Kmeans(
        x.shape[1],
        num_clusters,
        niter=niter,
        nredo=1,
        seed=seed,
        spherical=spherical,
        gpu=gpu,  # True: faiss puts the index on every visible GPU (`index_cpu_to_all_gpus`)
        verbose=False,
        # Defaults subsample to 256 points per centroid and warn below 39; train on everything, quietly.
        min_points_per_centroid=1,
        max_points_per_centroid=max(1, -(-x.shape[0] // num_clusters)),
        **_faiss_init_kwargs(faiss),
    )
    model.train(x)
    _, labels = model.assign(x)
    centroids = np.ascontiguousarray(model.centroids, dtype=np.float32)
    total = _sq_residual_sum(torch.from_numpy(x), torch.from_numpy(centroids), torch.from_numpy(labels))
    return KMeansResult(
        assignments=labels.astype(np.int64),
        centroids=centroids,
        inertia=_inertia(total, spherical),
        backend="faiss-gpu" if gpu else "faiss-cpu",
        empty_clusters_fixed=_faiss_split_count(model),
    )


def _faiss_init_kwargs(faiss: ModuleType) -> dict[str, object]:
    """k-means++ seeding where this faiss has it, like the torch backend; older faiss seeds randomly."""
    method = getattr(faiss, "ClusteringInitMethod_KMEANS_PLUS_PLUS", None)
    if method is None or not hasattr(faiss.ClusteringParameters(), "init_method"):
        return {}
    return {"init_method": method}


def _faiss_split_count(model: object) -> int:
    stats = getattr(model, "iteration_stats", None)
    if not stats or any("nsplit" not in step for step in stats):
        return -1
    return int(sum(step["nsplit"] for step in stats))


def _kmeans_torch(
    x: np.ndarray,
    num_clusters: int,
    *,
    seed: int,
    niter: int,
    nredo: int,
    spherical: bool,
    empty_cluster: str,
    device: torch.device | str | None,
) -> KMeansResult:
    """Best of `nredo` k-means++ / Lloyd runs on `device`; one code path for CPU and CUDA."""
    device = torch.device(device) if device is not None else _knn._torch_device()
    points = torch.from_numpy(x).to(device)
    # A CPU generator draws the same numbers on every device, so seeding does not depend on it.
    generator = torch.Generator().manual_seed(seed)
    best: _Run | None = None
    with torch.no_grad():
        for _ in range(nredo):
            start = _kmeans_plus_plus(points, num_clusters, generator)
            run = _lloyd(
                points, start, niter=niter, spherical=spherical, empty_cluster=empty_cluster, generator=generator
            )
            if best is None or run.inertia < best.inertia:
                best = run
    assert best is not None
    return KMeansResult(
        assignments=best.labels.cpu().numpy().astype(np.int64),
        centroids=best.centroids.cpu().numpy().astype(np.float32),
        inertia=best.inertia,
        backend=f"torch-{device.type}",
        empty_clusters_fixed=best.fixed,
    )


def _kmeans_plus_plus(x: torch.Tensor, num_clusters: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++: each next centroid is a point drawn with probability proportional to its squared
    distance to the nearest centroid so far. Returns Shape: (num_clusters, dim)."""
    sq_norms = (x * x).sum(dim=1)
    # Every random number up front: the draws then stay on x's device, with no host round trip per centroid.
    chosen = [torch.randint(len(x), (1,), generator=generator).to(x.device)]
    uniforms = torch.rand(num_clusters - 1, generator=generator, dtype=torch.float64).to(x.device)
    closest = _sq_distances_to(x, sq_norms, chosen[0])
    for uniform in uniforms:
        chosen.append(_draw(closest, uniform))
        closest = torch.minimum(closest, _sq_distances_to(x, sq_norms, chosen[-1]))
    return x[torch.cat(chosen)]


def _sq_distances_to(x: torch.Tensor, sq_norms: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Squared distance of every row to row `index` (a 1-element tensor). Shape: (num_samples,)."""
    point = x[index]
    return (sq_norms - 2 * (x @ point.T).squeeze(1) + (point * point).sum()).clamp(min=0)


def _draw(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """Index drawn with probability proportional to `weights`, by inverting their cumulative sum at
    `uniform` in [0, 1). Returns a 1-element tensor on the weights' device."""
    cumulative = weights.double().cumsum(0)
    total = cumulative[-1]
    weighted = torch.searchsorted(cumulative, (uniform * total).reshape(1), right=True)
    # All weights zero (every point sits on a centroid): any point is as good, so draw uniformly.
    uniform_index = (uniform * len(weights)).long().reshape(1)
    return torch.where(total > 0, weighted, uniform_index).clamp(max=len(weights) - 1)


def _assign_torch(x: torch.Tensor, centroids: torch.Tensor, spherical: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid and squared distance of every row, each Shape: (num_samples,)."""
    labels, d2 = [], []
    for block in _distance_blocks(x, centroids, spherical):
        best = block.min(dim=1)
        labels.append(best.indices)
        d2.append(best.values)
    return torch.cat(labels), torch.cat(d2)


def _lloyd(
    x: torch.Tensor,
    centroids: torch.Tensor,
    *,
    niter: int,
    spherical: bool,
    empty_cluster: str,
    generator: torch.Generator,
) -> _Run:
    """Lloyd iterations from `centroids` (Shape: (K, dim)) until the assignments stop changing."""
    fixed = 0
    previous: torch.Tensor | None = None
    for _ in range(niter):
        labels, d2 = _assign_torch(x, centroids, spherical)
        if previous is not None and torch.equal(labels, previous):
            break
        previous = labels
        counts = torch.bincount(labels, minlength=len(centroids))
        centroids = _cluster_means(x, labels, counts, centroids)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty) > 0:
            fixed += len(empty)
            if empty_cluster == "split":
                centroids = _split_clusters(centroids, counts, empty, generator)
            elif empty_cluster == "farthest":
                centroids[empty] = x[d2.argsort(descending=True, stable=True)[: len(empty)]]
            # "keep": _cluster_means already left the previous centroid in place.
        if spherical:
            centroids = torch.nn.functional.normalize(centroids, dim=1)
    labels, _ = _assign_torch(x, centroids, spherical)
    return _Run(labels, centroids, _inertia(_sq_residual_sum(x, centroids, labels), spherical), fixed)


def _cluster_means(
    x: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor, centroids: torch.Tensor
) -> torch.Tensor:
    """Mean of each cluster's points; an empty cluster keeps its previous centroid. Shape: (K, dim)."""
    sums = torch.zeros_like(centroids).index_add_(0, labels, x)
    means = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
    return torch.where((counts > 0).unsqueeze(1), means, centroids)


def _split_clusters(
    centroids: torch.Tensor, counts: torch.Tensor, empty: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """faiss's `split_clusters`: each empty cluster takes a perturbed copy of a large cluster's centroid.

    The cluster to split is drawn with probability proportional to (size - 1). Sizes are then updated
    assuming an even split, as faiss does, so later draws in the same step see the halves. Some cluster
    always has size > 1 while one is empty, since the sizes add up to N >= K.
    """
    centroids = centroids.clone()
    sizes = counts.double().cpu()
    # +eps on even coordinates and -eps on odd ones for the new copy, the opposite for the old one.
    perturbation = torch.full((centroids.shape[1],), _SPLIT_EPS, dtype=centroids.dtype, device=centroids.device)
    perturbation[1::2] = -_SPLIT_EPS
    for target in empty.tolist():
        source = int(torch.multinomial((sizes - 1).clamp(min=0), 1, generator=generator))
        base = centroids[source].clone()
        centroids[target] = base * (1 + perturbation)
        centroids[source] = base * (1 - perturbation)
        sizes[target] = sizes[source] / 2
        sizes[source] -= sizes[target]
    return centroids

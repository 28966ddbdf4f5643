"""Classic clustering baselines from scikit-learn: spectral, agglomerative (Ward) and NMF.

`fit_baseline` fits one of them on a training matrix and assigns every row of it and of any further
matrices (the test split). Spectral clustering (Ng, Jordan & Weiss, 2001, on a symmetrised kNN graph) and
Ward's agglomerative clustering (Ward, 1963) have no `predict` and need O(N^2) time or memory, so they are
fitted on at most `max_samples` training rows, a seeded random subset; every other row takes the majority
cluster of its `vote_neighbors` nearest fitted rows (Euclidean). NMF (Lee & Seung, 1999) factorises
X ~ W H with K components, fits on all training rows and transforms the others; a row's cluster is the
argmax of its coefficients W against unit-norm basis rows H.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering, SpectralClustering
from sklearn.decomposition import NMF
from sklearn.neighbors import NearestNeighbors

from deepclust.cluster import knn as _knn
from deepclust.errors import DeepclustError

BASELINES = ("spectral", "agglomerative", "nmf")


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value, so == on fields is meaningless.
class BaselineResult:
    """The clustering of the training matrix and of each further matrix given to `fit_baseline`.

    Attributes:
        clusters: int64 cluster of each row, one array per input: the training rows first, then `others`
            in order. Shape: (num_rows,) each.
        probabilities: float32 rows summing to 1, in the same order. Shape: (num_rows, num_clusters) each.
            Fitted rows of spectral/agglomerative: one-hot; voted rows: the share of their neighbours in
            each cluster; NMF: the row-normalised (scaled) coefficients, uniform for an all-zero row.
        fitted: int64 indices (sorted) of the training rows the model was fitted on. Shape: (num_fitted,).
    """

    clusters: list[np.ndarray]
    probabilities: list[np.ndarray]
    fitted: np.ndarray


def _fit_subset(num_rows: int, max_samples: int, seed: int) -> np.ndarray:
    """All row indices, or a seeded random `max_samples` of them, sorted."""
    if num_rows <= max_samples:
        return np.arange(num_rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_rows, size=max_samples, replace=False)).astype(np.int64)


def _one_hot(clusters: np.ndarray, num_clusters: int) -> np.ndarray:
    probs = np.zeros((len(clusters), num_clusters), dtype=np.float32)
    probs[np.arange(len(clusters)), clusters] = 1.0
    return probs


def _vote(index: NearestNeighbors, fitted_clusters: np.ndarray, rows: np.ndarray, num_clusters: int,
          num_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Clusters and vote shares of `rows` from their `num_neighbors` nearest fitted rows."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, num_clusters), dtype=np.float32)
    neighbours = index.kneighbors(rows, n_neighbors=num_neighbors, return_distance=False)
    # Offset row i's votes into bins [i * K, (i + 1) * K), so one bincount counts every row at once.
    votes = fitted_clusters[neighbours] + num_clusters * np.arange(len(rows))[:, None]  # (N, num_neighbors)
    counts = np.bincount(votes.ravel(), minlength=len(rows) * num_clusters).reshape(len(rows), num_clusters)
    # argmax breaks ties towards the lowest cluster index, so the vote is deterministic.
    return counts.argmax(1).astype(np.int64), (counts / num_neighbors).astype(np.float32)


def _graph_method(method: str, train: np.ndarray, others: list[np.ndarray], num_clusters: int, seed: int,
                  max_samples: int, n_neighbors: int, vote_neighbors: int) -> BaselineResult:
    fitted = _fit_subset(len(train), max_samples, seed)
    if method == "spectral" and not 1 <= n_neighbors < len(fitted):
        raise DeepclustError(f"n_neighbors must be in [1, {len(fitted)}) for {len(fitted)} fitted rows, "
                             f"got {n_neighbors}")
    model: SpectralClustering | AgglomerativeClustering
    if method == "spectral":
        model = SpectralClustering(num_clusters, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                                   assign_labels="cluster_qr", random_state=seed)
    else:
        model = AgglomerativeClustering(num_clusters, linkage="ward")
    fitted_clusters = model.fit_predict(train[fitted]).astype(np.int64)
    rest = np.setdiff1d(np.arange(len(train)), fitted, assume_unique=True)
    voters = min(vote_neighbors, len(fitted))
    index = NearestNeighbors().fit(train[fitted])
    train_clusters = np.empty(len(train), dtype=np.int64)
    train_probs = np.empty((len(train), num_clusters), dtype=np.float32)
    train_clusters[fitted], train_probs[fitted] = fitted_clusters, _one_hot(fitted_clusters, num_clusters)
    train_clusters[rest], train_probs[rest] = _vote(index, fitted_clusters, train[rest], num_clusters, voters)
    voted = [_vote(index, fitted_clusters, x, num_clusters, voters) for x in others]
    return BaselineResult([train_clusters, *(c for c, _ in voted)], [train_probs, *(p for _, p in voted)], fitted)


def _nmf_probabilities(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax clusters and row-normalised coefficients; an all-zero row gets the uniform distribution."""
    sums = coefficients.sum(1, keepdims=True)
    uniform = np.full_like(coefficients, 1.0 / coefficients.shape[1])
    probs = np.where(sums > 0, coefficients / np.maximum(sums, 1e-30), uniform)
    return coefficients.argmax(1).astype(np.int64), probs.astype(np.float32)


def _nmf(train: np.ndarray, others: list[np.ndarray], num_clusters: int, seed: int,
         max_iter: int) -> BaselineResult:
    for name, x in [("train", train), *((f"others[{i}]", x) for i, x in enumerate(others))]:
        if len(x) and x.min() < 0:
            raise DeepclustError(f"NMF needs non-negative features, but {name} has values down to {x.min():.4g} "
                                 "(use raw pixels or another non-negative input)")
    model = NMF(num_clusters, init="nndsvda", random_state=seed, max_iter=max_iter)
    coefficients = model.fit_transform(train)
    # W H = (W D)(D^-1 H) for any positive diagonal D, so raw coefficients have arbitrary scales per component
    # (on digits' pixels, 3 of 10 components never win). Measure them against unit-norm basis rows instead,
    # as Xu, Liu & Gong (SIGIR 2003) do for NMF clustering.
    scale = np.linalg.norm(model.components_, axis=1)
    results = [_nmf_probabilities(coefficients * scale)]
    results += [_nmf_probabilities(model.transform(x) * scale if len(x) else np.zeros((0, num_clusters)))
                for x in others]
    return BaselineResult([c for c, _ in results], [p for _, p in results], np.arange(len(train), dtype=np.int64))


def fit_baseline(
    method: str,
    train: np.ndarray,
    others: list[np.ndarray] | None = None,
    num_clusters: int = 10,
    *,
    seed: int = 0,
    max_samples: int = 10000,
    n_neighbors: int = 10,
    vote_neighbors: int = 10,
    nmf_max_iter: int = 400,
) -> BaselineResult:
    """Clusters the rows of `train` with a scikit-learn baseline and assigns the rows of each of `others`.

    - "spectral": `SpectralClustering` on the symmetrised `n_neighbors`-NN connectivity graph, labels
      from the spectral embedding by `cluster_qr` (no k-means restarts, deterministic).
    - "agglomerative": `AgglomerativeClustering` with Ward linkage (merge the pair of clusters whose
      union least increases the within-cluster sum of squares).
    - "nmf": `NMF` with `num_clusters` components, NNDSVDa initialisation; cluster = argmax coefficient,
      each coefficient scaled by the norm of its basis row (Xu, Liu & Gong, 2003).

    Spectral and agglomerative fit on at most `max_samples` training rows (a subset drawn with `seed`),
    and the remaining training rows and all rows of `others` vote with their `vote_neighbors` nearest
    fitted rows. NMF fits on all training rows. The result is the same for the same inputs and seed.

    Args:
        method: One of "spectral", "agglomerative", "nmf".
        train: Training features. Shape: (num_train, dim).
        others: Further feature matrices to assign (the test split). Shape: (num_rows, dim) each.
        num_clusters: Number of clusters K, 2 <= K <= number of fitted rows.
        seed: Seed of the subset, spectral's embedding solver and NMF's initialisation.
        max_samples: Most training rows that spectral and agglomerative are fitted on.
        n_neighbors: Neighbours per row in spectral's affinity graph.
        vote_neighbors: Fitted rows that vote on each other row's cluster.
        nmf_max_iter: Most NMF iterations.

    Returns:
        A `BaselineResult`: clusters and probabilities of `train`, then of each of `others`.

    Raises:
        DeepclustError: For an unknown method, features that are not finite 2-D arrays of the same
            width, K or a neighbour count out of range, or negative input to NMF.
    """
    if method not in BASELINES:
        raise DeepclustError(f"unknown baseline {method!r}; expected one of {BASELINES}")
    x = _knn._as_matrix(train, "train")
    rest = [_knn._as_matrix(o, f"others[{i}]") if len(o) else np.zeros((0, x.shape[1]), np.float32)
            for i, o in enumerate(others or [])]
    for i, o in enumerate(rest):
        if o.shape[1] != x.shape[1]:
            raise DeepclustError(f"others[{i}] has {o.shape[1]} columns, train {x.shape[1]}")
    if max_samples < 1 or vote_neighbors < 1 or nmf_max_iter < 1:
        raise DeepclustError(f"max_samples, vote_neighbors and nmf_max_iter must be >= 1, got {max_samples}, "
                             f"{vote_neighbors} and {nmf_max_iter}")
    num_fitted = len(x) if method == "nmf" else min(len(x), max_samples)
    if isinstance(num_clusters, bool) or not 2 <= num_clusters <= num_fitted:
        raise DeepclustError(f"num_clusters must be in [2, {num_fitted}] for {num_fitted} fitted rows, "
                             f"got {num_clusters}")
    if method == "nmf":
        return _nmf(x, rest, num_clusters, seed, nmf_max_iter)
    return _graph_method(method, x, rest, num_clusters, seed, max_samples, n_neighbors, vote_neighbors)

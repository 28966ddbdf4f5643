"""Estimating the number of clusters K of a feature matrix without labels: `estimate_k`.

The rule rests on SCAN's premise (arXiv:2005.12320, section 2.1): in a good pretext feature space a sample's
nearest neighbours mostly share its class. Classes are then groups of samples that keep their kNN edges
among themselves. The estimate over-clusters and merges, on a subsample:

1. L2-normalise the rows (cosine geometry, as `knn_search`), reduced by PCA to `pca_dim` when wider.
2. Cut them into M micro-clusters with k-means (M = 3 * k_max, at least 50; each is nearly pure when
   M >> K) and count the kNN edges between every pair of micro-clusters.
3. Agglomerate: repeatedly merge the two groups whose edge count is highest relative to what a random graph
   with the same degrees would put between them, ratio = e(A, B) * 2m / (vol(A) * vol(B)) (the observed /
   expected ratio of Newman's modularity null model, arXiv:physics/0602124). Record the best ratio at every
   number of groups: the merge criterion per K.
4. Choose the K with the largest drop in merge quality: score(K) = min(ratio(K+1), 1) - ratio(K), where
   ratio(G) is the best ratio available with G groups left. A good K is reached by a merge that was as good as
   chance or better (ratio(K+1) near or above 1: sub-modes of one class, which share many edges) and left
   with only bad merges (ratio(K) near 0: separate classes share few). Every merge better than chance counts
   as 1, so the many good merges among small micro-clusters do not outweigh the drop at the class level.

Steps 1-3 run on `repeats` independent subsamples; the score is averaged over them and K is its argmax (the
smaller K on a tie). The evidence is the mean score and mean merge ratio per K, the share of repeats whose
own argmax is each K, and the eigengap of the micro-cluster graph (not used to decide, shown for comparison).

Cost: O(repeats * n^2 * d) for the kNN graph of n = `max_samples` rows, about a second per repeat for
5,000 x 128 features on one CPU thread; the full matrix is only subsampled and projected.

The rule was chosen by looking at digits and MNIST (pixels and SimCLR features); `scripts/k_estimate_eval.py`
measures it on those and on CIFAR-10 (docs/k-estimate.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepclust.cluster import knn as _knn
from deepclust.cluster.kmeans import kmeans
from deepclust.cluster.pca import PCA
from deepclust.errors import DeepclustError


@dataclass(frozen=True)
class KEstimate:
    """The chosen number of clusters and the evidence for it.

    Attributes:
        k: The chosen K.
        ks: The candidate Ks, increasing.
        criteria: Each criterion's value per candidate K (same order as `ks`; NaN where not computed).
        decided_by: The criterion or rule that decided.
        rule: One sentence saying how the criteria chose K.
        details: How the estimate ran (rows used, neighbours, seconds, ...), plain JSON values.
    """

    k: int
    ks: list[int]
    criteria: dict[str, list[float]]
    decided_by: str
    rule: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (NaN as None) for a card or a metrics file."""
        def clean(v: float) -> float | None:
            return None if v != v else float(v)

        return {"k": self.k, "ks": list(self.ks), "decided_by": self.decided_by, "rule": self.rule,
                "criteria": {name: [clean(v) for v in values] for name, values in self.criteria.items()},
                "details": dict(self.details)}


def estimate_k(
    features: np.ndarray,
    k_min: int = 2,
    k_max: int = 20,
    *,
    seed: int = 0,
    max_samples: int = 5000,
    num_neighbors: int = 30,
    num_microclusters: int | None = None,
    repeats: int = 5,
    pca_dim: int = 128,
) -> KEstimate:
    """Estimates the number of clusters of `features` by merging micro-clusters along the kNN graph.

    See the module docstring for the rule. Labels never enter. Deterministic for a given seed on the CPU.

    Args:
        features: Feature matrix (pretext features, embeddings or flattened pixels). Shape: (num_samples, dim).
        k_min: Smallest K considered, >= 2.
        k_max: Largest K considered, >= k_min.
        seed: Seed of the subsamples and of the k-means initialisations.
        max_samples: Rows per subsample (all rows when fewer).
        num_neighbors: k of the kNN graph. 30: among 5, 10, 19, 30 and 40 it estimated best on the training
            splits of digits, MNIST and MNIST 0-2 (pixels and SimCLR features; docs/k-estimate.md).
        num_microclusters: Micro-clusters M; max(50, 3 * k_max) when None, at most a twentieth of the rows.
        repeats: Independent subsamples; K is their median.
        pca_dim: Wider rows are projected on their first `pca_dim` principal axes after normalising.

    Returns:
        The estimate: K, the criteria per K in [k_min, k_max], and which rule decided.

    Raises:
        DeepclustError: If the features are not a finite 2-D array, the range is invalid, or there are too few
            rows for k_max clusters.
    """
    started = time.perf_counter()
    x = _knn._as_matrix(features)
    _check_args(len(x), k_min, k_max, num_neighbors, repeats)
    n = min(len(x), int(max_samples))
    micro = int(num_microclusters) if num_microclusters is not None else max(50, 3 * k_max)
    micro = max(k_max + 2, min(micro, n // 20))
    rng = np.random.default_rng(seed)
    ks = list(range(k_min, k_max + 1))
    ratios, scores, eigen = [], [], []
    for repeat in range(repeats):
        rows = np.sort(rng.choice(len(x), size=n, replace=False)) if n < len(x) else np.arange(n)
        edges = _microcluster_edges(_prepare(x[rows], pca_dim), micro, num_neighbors, seed + repeat)
        ratio = merge_ratios(edges)
        ratios.append([ratio[k] for k in ks])
        scores.append(drop_scores(ratio, ks))
        eigen.append(_eigengaps(edges, k_max))
    mean_score = np.mean(scores, axis=0)
    k = ks[int(np.argmax(mean_score))]  # argmax keeps the first, i.e. the smaller K, on a tie
    own = [ks[int(np.argmax(s))] for s in scores]
    return KEstimate(
        k=k,
        ks=ks,
        criteria={
            "merge drop score": [float(v) for v in mean_score],
            "merge ratio": [float(v) for v in np.mean(ratios, axis=0)],
            "repeats choosing K": [sum(c == kk for c in own) / repeats for kk in ks],
            "eigengap (not used)": [float(np.mean([g[kk] for g in eigen])) for kk in ks],
        },
        decided_by="merge drop score",
        rule=(f"K maximises min(ratio(K+1), 1) - ratio(K), averaged over {repeats} subsamples of {n} rows, where "
              f"ratio(G) is the best observed / expected kNN-edge ratio between two of G groups while merging "
              f"{micro} k-means micro-clusters along the {num_neighbors}-NN graph."),
        details={"per_repeat": own, "rows": n, "num_samples": len(x), "num_neighbors": num_neighbors,
                 "num_microclusters": micro, "repeats": repeats, "seed": seed,
                 "seconds": round(time.perf_counter() - started, 3)},
    )


def drop_scores(ratios: dict[int, float], ks: list[int]) -> list[float]:
    """score(K) = min(ratio(K+1), 1) - ratio(K) for each K of `ks`: how much worse the next merge is.

    Args:
        ratios: `merge_ratios`'s best ratio per number of groups; needs every K of `ks` and K + 1.
        ks: The candidate Ks.

    Returns:
        One score per K, in the order of `ks`.
    """
    return [min(ratios[k + 1], 1.0) - ratios[k] for k in ks]


def merge_ratios(edges: np.ndarray) -> dict[int, float]:
    """Agglomerates groups by edge density and records the best ratio at every number of groups.

    Args:
        edges: Symmetric edge-endpoint counts between M initial groups; the diagonal holds each group's
            internal ones (twice its internal edges), so a row sums to the group's degree. Shape: (M, M).

    Returns:
        For every number of groups G from M down to 2, the observed / expected edge ratio
        e(A, B) * total / (vol(A) * vol(B)) of the pair merged next (total = edges.sum(), vol = row sums:
        the degrees of the modularity null model).
    """
    weights = np.array(edges, dtype=np.float64)
    volume = weights.sum(axis=1)
    total = volume.sum()
    np.fill_diagonal(weights, 0.0)  # internal edges count in the volumes only
    alive = np.ones(len(weights), dtype=bool)
    ratios: dict[int, float] = {}
    for groups in range(len(weights), 1, -1):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = weights * total / np.outer(volume, volume)
        ratio[~np.isfinite(ratio)] = 0.0
        ratio[~alive] = -1.0
        ratio[:, ~alive] = -1.0
        np.fill_diagonal(ratio, -1.0)
        a, b = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        ratios[groups] = float(max(ratio[a, b], 0.0))
        # b joins a: its edges and volume move over; the pair's own edges become internal (dropped).
        weights[a] += weights[b]
        weights[:, a] += weights[:, b]
        weights[a, a] = 0.0
        weights[b], weights[:, b] = 0.0, 0.0
        volume[a] += volume[b]
        alive[b] = False
    return ratios


def largest_k(num_rows: int) -> int:
    """The largest k_max `estimate_k` accepts on NUM_ROWS rows: 20 rows per micro-cluster, k_max + 2 of them."""
    return num_rows // 20 - 2


def _check_args(num_samples: int, k_min: int, k_max: int, num_neighbors: int, repeats: int) -> None:
    if not 2 <= k_min <= k_max:
        raise DeepclustError(f"the K range must satisfy 2 <= k_min <= k_max, got [{k_min}, {k_max}]")
    if k_max > largest_k(num_samples):
        raise DeepclustError(f"{num_samples} rows are too few to estimate K up to {k_max}: need at least "
                             f"{20 * (k_max + 2)} (20 per micro-cluster, k_max + 2 of them); lower k_max")
    if not 1 <= num_neighbors < 50:
        raise DeepclustError(f"num_neighbors must be in [1, 50), got {num_neighbors}")
    if repeats < 1:
        raise DeepclustError(f"repeats must be >= 1, got {repeats}")


def _prepare(x: np.ndarray, pca_dim: int) -> np.ndarray:
    """Unit rows, projected on their first `pca_dim` principal axes when wider (and normalised again)."""
    x = _knn._normalize(x)
    if x.shape[1] > pca_dim:
        x = _knn._normalize(PCA(pca_dim, whiten=False).fit_transform(x).astype(np.float32))
    return x


def _microcluster_edges(x: np.ndarray, micro: int, num_neighbors: int, seed: int) -> np.ndarray:
    """kNN edge-endpoint counts between the k-means micro-clusters of the rows, symmetric, with the internal ones
    on the diagonal. Shape: (micro, micro)."""
    groups = kmeans(x, micro, seed=seed, niter=25, nredo=1, spherical=True).assignments
    neighbours = _knn.knn_search(x, num_neighbors)[:, 1:]  # (n, k), self dropped
    edges = np.zeros((micro, micro))
    np.add.at(edges, (np.repeat(groups, num_neighbors), groups[neighbours.ravel()]), 1.0)
    return edges + edges.T


def _eigengaps(edges: np.ndarray, k_max: int) -> dict[int, float]:
    """lambda_{K+1} - lambda_K of the micro-cluster graph's normalised Laplacian, for K = 1..k_max."""
    between = edges - np.diag(np.diag(edges))  # the graph between micro-clusters, no self loops
    degree = np.maximum(between.sum(axis=1), 1e-12)
    scaled = between / np.sqrt(np.outer(degree, degree))
    eigenvalues = np.sort(1.0 - np.linalg.eigvalsh(scaled))
    return {k: float(eigenvalues[k] - eigenvalues[k - 1]) for k in range(1, min(k_max, len(eigenvalues) - 1) + 1)}

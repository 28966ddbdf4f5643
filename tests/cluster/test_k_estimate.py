"""estimate_k: separated clusters of any count are found, determinism, subsampling, the merge arithmetic
against a hand computation and a slow oracle, and one-line errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from deepclust.cluster.k_estimate import KEstimate, drop_scores, estimate_k, merge_ratios
from deepclust.errors import DeepclustError


def _blobs(num_clusters: int, per_cluster: int | list[int], dim: int = 32, noise: float = 0.35,
           seed: int = 0) -> np.ndarray:
    """Gaussian clusters around random unit centres, shuffled; the rows carry no label."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = per_cluster if isinstance(per_cluster, list) else [per_cluster] * num_clusters
    x = np.concatenate([c + noise * rng.normal(size=(n, dim)) / np.sqrt(dim) for c, n in zip(centres, sizes,
                                                                                             strict=True)])
    return rng.permutation(x).astype(np.float32)


@pytest.mark.parametrize("num_clusters", [2, 3, 5, 8, 12])
def test_separated_clusters_are_counted(num_clusters: int) -> None:
    estimate = estimate_k(_blobs(num_clusters, max(150, 400 // num_clusters)), 2, 15, repeats=3)
    assert estimate.k == num_clusters
    assert estimate.decided_by == "merge drop score"


def test_unequal_sizes_and_a_range_that_starts_higher() -> None:
    x = _blobs(6, [400, 300, 200, 120, 80, 60], seed=3)
    assert estimate_k(x, 2, 12, repeats=3).k == 6
    assert estimate_k(x, 4, 9, repeats=3, seed=1).k == 6


def test_deterministic_for_a_seed_and_the_evidence_has_one_value_per_k() -> None:
    x = _blobs(4, 200, seed=1)
    a, b = estimate_k(x, 2, 10, seed=7, repeats=2), estimate_k(x, 2, 10, seed=7, repeats=2)
    assert a.to_dict() | {"details": None} == b.to_dict() | {"details": None}  # seconds differ
    assert a.ks == list(range(2, 11))
    assert set(a.criteria) == {"merge drop score", "merge ratio", "repeats choosing K", "eigengap (not used)"}
    assert all(len(values) == len(a.ks) for values in a.criteria.values())
    assert a.criteria["merge drop score"][a.ks.index(a.k)] == max(a.criteria["merge drop score"])
    json.dumps(a.to_dict())  # plain values for a card
    # max(50, 3 * k_max) micro-clusters, but at most one per 20 of the 800 rows.
    assert len(a.details["per_repeat"]) == 2 and a.details["num_microclusters"] == 40


def test_large_inputs_are_subsampled() -> None:
    x = _blobs(5, 1200, seed=2)  # 6,000 rows, of which 1,000 per repeat
    estimate = estimate_k(x, 2, 10, max_samples=1000, repeats=2)
    assert estimate.k == 5
    assert (estimate.details["rows"], estimate.details["num_samples"]) == (1000, 6000)


def test_wide_rows_are_projected() -> None:
    x = _blobs(4, 200, dim=300, seed=4)
    assert estimate_k(x, 2, 8, repeats=2, pca_dim=16).k == 4


def test_merge_ratios_by_hand() -> None:
    # Groups A, B, C; diagonal: internal edge endpoints. Volumes 14, 15, 11; total 40.
    edges = np.array([[10, 4, 0], [4, 10, 1], [0, 1, 10]])
    ratios = merge_ratios(edges)
    # 3 groups: best pair A-B, 4 * 40 / (14 * 15) = 0.7619 (B-C: 40 / 165 = 0.2424, A-C: 0).
    # 2 groups: AB-C shares 0 + 1 edges, 1 * 40 / (29 * 11) = 0.1254.
    assert ratios == pytest.approx({3: 160 / 210, 2: 40 / 319})


def test_drop_scores_by_hand() -> None:
    # K=2: min(0.5, 1) - 0.1 = 0.4; K=3: min(1.5, 1) - 0.5 = 0.5 (a merge above chance counts as 1).
    assert drop_scores({2: 0.1, 3: 0.5, 4: 1.5}, [2, 3]) == pytest.approx([0.4, 0.5])


def _merge_ratios_slow(edges: np.ndarray) -> dict[int, float]:
    """The definition, recomputed from the initial matrix at every step: groups as sets of initial groups."""
    volume, total = edges.sum(axis=1), edges.sum()
    groups = [{i} for i in range(len(edges))]
    ratios = {}
    while len(groups) > 1:
        def ratio(a: set[int], b: set[int]) -> float:
            shared = sum(edges[i, j] for i in a for j in b)
            return shared * total / (sum(volume[i] for i in a) * sum(volume[j] for j in b))

        a, b = max(itertools.combinations(range(len(groups)), 2), key=lambda p: ratio(groups[p[0]], groups[p[1]]))
        ratios[len(groups)] = ratio(groups[a], groups[b])
        groups[a] |= groups.pop(b)
    return ratios


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_ratios_match_the_slow_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, 20, size=(9, 9)).astype(float)
    edges = edges + edges.T  # symmetric; ties are improbable with these magnitudes
    assert merge_ratios(edges) == pytest.approx(_merge_ratios_slow(edges))


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(k_min=1), r"2 <= k_min <= k_max"),
    (dict(k_min=6, k_max=5), r"2 <= k_min <= k_max"),
    (dict(k_max=40), "too few to estimate K up to 40"),
    (dict(num_neighbors=0), "num_neighbors"),
    (dict(repeats=0), "repeats"),
])
def test_bad_arguments_are_one_line_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(DeepclustError, match=match) as info:
        estimate_k(_blobs(3, 200), **kwargs)
    assert "\n" not in str(info.value)


def test_non_finite_features_are_refused() -> None:
    x = _blobs(3, 100)
    x[5, 2] = np.nan
    with pytest.raises(DeepclustError, match="NaN"):
        estimate_k(x)


def test_to_dict_turns_nan_into_none() -> None:
    estimate = KEstimate(3, [2, 3], {"c": [float("nan"), 1.0]}, "c", "rule")
    assert estimate.to_dict()["criteria"] == {"c": [None, 1.0]}

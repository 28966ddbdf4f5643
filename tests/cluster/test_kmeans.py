import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from deepclust.cluster import EMPTY_CLUSTER_POLICIES, KMeansResult, assign, distances, kmeans
from deepclust.cluster import knn as knn_module
from deepclust.errors import DeepclustError
from deepclust.metrics import hungarian_accuracy

# The package re-exports the function `kmeans`, which shadows the submodule as an attribute.
kmeans_module = importlib.import_module("deepclust.cluster.kmeans")
bench = importlib.import_module("deepclust.bench.kmeans")

NO_FAISS = pytest.mark.skipif(knn_module.faiss is None, reason="faiss not installed")
BACKENDS = [pytest.param("faiss", marks=NO_FAISS), "torch"]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


def _blobs(num_clusters: int = 4, per_cluster: int = 50, dim: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = 20.0 * rng.normal(size=(num_clusters, dim))
    labels = np.repeat(np.arange(num_clusters), per_cluster)
    features = centers[labels] + rng.normal(size=(len(labels), dim))
    return features.astype(np.float32), labels


def _sphere_blobs(num_clusters: int = 4, per_cluster: int = 40, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Tight bundles of directions with norms spread over [0.5, 5], which spherical k-means ignores."""
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(num_clusters, dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    labels = np.repeat(np.arange(num_clusters), per_cluster)
    unit = directions[labels] + 0.05 * rng.normal(size=(len(labels), dim))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    return (unit * rng.uniform(0.5, 5.0, size=(len(labels), 1))).astype(np.float32), labels


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [0, 3])
def test_matches_sklearn_on_blobs(backend: str, seed: int) -> None:
    features, labels = _blobs(seed=seed)
    reference = KMeans(n_clusters=4, n_init=3, random_state=seed).fit(features)
    result = kmeans(features, 4, seed=seed, backend=backend, device="cpu")
    assert isinstance(result, KMeansResult)
    assert result.backend == f"{backend}-cpu"
    assert result.assignments.dtype == np.int64 and result.assignments.shape == (200,)
    assert result.centroids.dtype == np.float32 and result.centroids.shape == (4, 5)
    assert adjusted_rand_score(reference.labels_, result.assignments) == 1.0
    assert hungarian_accuracy(labels, result.assignments) == 1.0
    assert result.inertia == pytest.approx(reference.inertia_, rel=0.01)
    # Each centroid is the mean of its points, and the inertia is measured against them.
    for cluster in range(4):
        members = features[result.assignments == cluster]
        np.testing.assert_allclose(result.centroids[cluster], members.mean(0), atol=1e-3)
    assert result.inertia == pytest.approx(
        float(((features - result.centroids[result.assignments]) ** 2).sum()), rel=1e-5
    )


@pytest.mark.parametrize("device", DEVICES)
def test_torch_backend_on_device(device: str) -> None:
    features, labels = _blobs()
    result = kmeans(features, 4, backend="torch", device=device)
    assert result.backend == f"torch-{device}"
    assert hungarian_accuracy(labels, result.assignments) == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_spherical_recovers_directions(backend: str) -> None:
    features, labels = _sphere_blobs()
    result = kmeans(features, 4, spherical=True, backend=backend, device="cpu")
    np.testing.assert_allclose(np.linalg.norm(result.centroids, axis=1), 1.0, atol=1e-5)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    cosines = unit @ result.centroids.T
    np.testing.assert_array_equal(result.assignments, cosines.argmax(1))
    assert hungarian_accuracy(labels, result.assignments) == 1.0
    assert result.inertia == pytest.approx(float((1 - cosines.max(1)).sum()), rel=1e-4)


def _two_groups() -> tuple[np.ndarray, np.ndarray]:
    """30 points around (5, 5) and a lone point at (100, 100)."""
    group = np.array([5.0, 5.0]) + np.random.default_rng(0).normal(size=(30, 2))
    return np.concatenate([group, [[100.0, 100.0]]]).astype(np.float32), np.array([0] * 30 + [1])


@pytest.fixture
def far_empty_seeding(monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """Seeds with [group mean, lone point, a point far from all data]: cluster 2 is empty after step 1."""
    features, _ = _two_groups()
    start = np.stack([features[:30].mean(0), features[30], [1e4, 1e4]]).astype(np.float32)
    monkeypatch.setattr(kmeans_module, "_kmeans_plus_plus", lambda x, k, generator: torch.from_numpy(start).to(x))
    return start


def test_split_divides_a_cluster_and_never_a_singleton(far_empty_seeding: np.ndarray) -> None:
    features, groups = _two_groups()
    one_step = kmeans(features, 3, niter=1, nredo=1, empty_cluster="split", backend="torch", device="cpu")
    # The singleton (size - 1 = 0) cannot be drawn, so the group's centroid is copied and perturbed.
    signs = np.array([1.0, -1.0])
    np.testing.assert_allclose(one_step.centroids[2], far_empty_seeding[0] * (1 + signs / 1024), rtol=1e-5)
    np.testing.assert_allclose(one_step.centroids[0], far_empty_seeding[0] * (1 - signs / 1024), rtol=1e-5)
    assert one_step.empty_clusters_fixed == 1
    result = kmeans(features, 3, niter=20, nredo=1, empty_cluster="split", backend="torch", device="cpu")
    assert np.bincount(result.assignments, minlength=3).min() > 0
    assert set(result.assignments[groups == 0]) == {0, 2}
    assert set(result.assignments[groups == 1]) == {1}
    assert result.empty_clusters_fixed == 1


def test_farthest_reseeds_at_farthest_point(far_empty_seeding: np.ndarray) -> None:
    features, _ = _two_groups()
    farthest = np.linalg.norm(features[:30] - far_empty_seeding[0], axis=1).argmax()
    result = kmeans(features, 3, niter=1, nredo=1, empty_cluster="farthest", backend="torch", device="cpu")
    np.testing.assert_array_equal(result.centroids[2], features[farthest])
    assert result.assignments[farthest] == 2
    assert result.empty_clusters_fixed == 1


def test_keep_leaves_empty_centroid_in_place(far_empty_seeding: np.ndarray) -> None:
    features, groups = _two_groups()
    result = kmeans(features, 3, niter=10, nredo=1, empty_cluster="keep", backend="torch", device="cpu")
    np.testing.assert_array_equal(result.centroids[2], far_empty_seeding[2])
    np.testing.assert_array_equal(result.assignments, groups)
    # Empty in step 1; step 2 assigns the same labels and stops.
    assert result.empty_clusters_fixed == 1


@pytest.mark.parametrize("empty_cluster", EMPTY_CLUSTER_POLICIES)
def test_duplicates_with_every_policy(empty_cluster: str) -> None:
    # Three distinct points repeated: K = 3 with k-means++ always finds them, K = N forces empty clusters.
    features = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    result = kmeans(features, 3, niter=10, nredo=1, empty_cluster=empty_cluster, backend="torch", device="cpu")
    assert hungarian_accuracy(np.array([0, 0, 1, 1, 2]), result.assignments) == 1.0
    result = kmeans(features, 5, niter=10, nredo=1, empty_cluster=empty_cluster, backend="torch", device="cpu")
    assert result.assignments.shape == (5,) and result.empty_clusters_fixed > 0


def test_auto_uses_torch_for_non_split_policy() -> None:
    features, _ = _blobs()
    assert kmeans(features, 4, empty_cluster="keep", device="cpu").backend == "torch-cpu"


def test_torch_fallback_used_without_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    features, labels = _blobs(num_clusters=3)
    monkeypatch.setattr(knn_module, "faiss", None)
    result = kmeans(features, 3, seed=1, device="cpu")
    assert result.backend == "torch-cpu"
    assert hungarian_accuracy(labels, result.assignments) == 1.0
    with pytest.raises(DeepclustError, match="faiss is not installed"):
        kmeans(features, 3, backend="faiss")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spherical", [False, True])
def test_deterministic_under_seed(backend: str, spherical: bool) -> None:
    features = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    first = kmeans(features, 6, seed=7, spherical=spherical, backend=backend, device="cpu")
    second = kmeans(features, 6, seed=7, spherical=spherical, backend=backend, device="cpu")
    np.testing.assert_array_equal(first.assignments, second.assignments)
    np.testing.assert_array_equal(first.centroids, second.centroids)
    assert first.inertia == second.inertia


@pytest.mark.parametrize("backend", BACKENDS)
def test_nredo_keeps_lowest_inertia(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spy on the single-run function of each backend and record every run's inertia.
    name = "_faiss_run" if backend == "faiss" else "_lloyd"
    run_one = getattr(kmeans_module, name)
    inertias: list[float] = []

    def spy(*args: object, **kwargs: object) -> object:
        run = run_one(*args, **kwargs)
        inertias.append(run.inertia)
        return run

    monkeypatch.setattr(kmeans_module, name, spy)
    features = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    result = kmeans(features, 12, seed=0, niter=3, nredo=5, backend=backend, device="cpu")
    assert len(inertias) == 5 and len(set(inertias)) > 1
    assert result.inertia == min(inertias)


_POINTS = np.random.default_rng(0).normal(size=(10, 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_clusters": 0}, r"num_clusters=0 for N=10"),
        ({"num_clusters": 1}, r"num_clusters=1 for N=10"),
        ({"num_clusters": 11}, r"num_clusters=11 for N=10"),
        ({"num_clusters": 2.5}, r"num_clusters=2.5"),
        ({"niter": 0}, r"niter=0"),
        ({"nredo": 0}, r"nredo=0"),
        ({"empty_cluster": "random"}, r"empty_cluster must be one of"),
        ({"backend": "sklearn"}, r"backend must be one of"),
        ({"backend": "faiss", "empty_cluster": "keep"}, r"empty_cluster='keep' needs backend"),
        ({"features": _POINTS[:, 0]}, r"features must be a non-empty 2-D array"),
        ({"features": np.vstack([_POINTS[1:], [[np.nan, 0.0]]])}, r"features contains NaN"),
    ],
)
def test_invalid_arguments(kwargs: dict, message: str) -> None:
    arguments = {"features": _POINTS, "num_clusters": 2, **kwargs}
    with pytest.raises(DeepclustError, match=message):
        kmeans(**arguments)


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("num_samples", [5, 8192 + 3])  # one chunk, and more than one
def test_assign_and_distances_match_numpy(spherical: bool, num_samples: int) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(num_samples, 6)).astype(np.float32)
    centroids = rng.normal(size=(7, 6)).astype(np.float32)
    x, c = features.astype(np.float64), centroids.astype(np.float64)
    if spherical:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
    expected = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    d2 = distances(features, centroids, spherical=spherical)
    assert d2.dtype == np.float32 and d2.shape == (num_samples, 7)
    np.testing.assert_allclose(d2, expected, atol=1e-4)
    labels, best = assign(features, centroids, spherical=spherical)
    assert labels.dtype == np.int64 and best.dtype == np.float32
    np.testing.assert_array_equal(labels, expected.argmin(1))
    np.testing.assert_allclose(best, expected.min(1), atol=1e-4)


def test_assign_rejects_dim_mismatch() -> None:
    with pytest.raises(DeepclustError, match="centroids must have dim 2"):
        assign(_POINTS, np.zeros((3, 4)))
    with pytest.raises(DeepclustError, match="centroids contains NaN"):
        distances(_POINTS, np.full((3, 2), np.nan))


def test_bench_runs_on_tiny_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    argv = ["--n", "500", "--dim", "8", "--k", "5", "--niter", "3", "--threads", "1", "--out", str(out)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "sklearn" in printed and "torch" in printed and "inertia" in printed
    report = json.loads(out.read_text())
    expected = {"torch", "sklearn"} | ({"faiss"} if knn_module.faiss is not None else set())
    assert {row["impl"] for row in report["results"]} == expected
    assert all(row["k"] == 5 and row["inertia"] > 0 for row in report["results"])


def test_seeding_draw_follows_weights() -> None:
    # Weights (0, 1, 3, 0): indices 1 and 2 with probabilities 1/4 and 3/4; all zero weights: uniform.
    draw = kmeans_module._draw
    uniforms = torch.rand(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    weighted = torch.cat([draw(torch.tensor([0.0, 1.0, 3.0, 0.0]), u) for u in uniforms])
    np.testing.assert_allclose(torch.bincount(weighted, minlength=4).numpy() / 4000, [0, 0.25, 0.75, 0], atol=0.03)
    uniform = torch.cat([draw(torch.zeros(4), u) for u in uniforms])
    np.testing.assert_allclose(torch.bincount(uniform, minlength=4).numpy() / 4000, 0.25, atol=0.03)

import numpy as np
import pytest

from deepclust.cluster import kmeans
from deepclust.cluster import knn as knn_module
from deepclust.cluster.kmeans import _kmeans_torch
from deepclust.errors import DeepclustError
from deepclust.metrics import hungarian_accuracy


def _blobs(
    num_clusters: int = 4, per_cluster: int = 50, dim: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = 20.0 * rng.normal(size=(num_clusters, dim))
    labels = np.repeat(np.arange(num_clusters), per_cluster)
    features = centers[labels] + rng.normal(size=(len(labels), dim))
    return features.astype(np.float32), labels


def test_recovers_blobs() -> None:
    features, labels = _blobs()
    assignments, centroids = kmeans(features, 4)
    assert assignments.dtype == np.int64 and assignments.shape == (200,)
    assert centroids.dtype == np.float32 and centroids.shape == (4, 5)
    assert hungarian_accuracy(labels, assignments) == 1.0
    # Each centroid is the mean of its points.
    for cluster in range(4):
        np.testing.assert_allclose(centroids[cluster], features[assignments == cluster].mean(0), atol=1e-3)


@pytest.mark.parametrize("seed", [0, 3])
def test_torch_fallback_recovers_blobs(seed: int) -> None:
    features, labels = _blobs(seed=seed)
    assignments, centroids = _kmeans_torch(features, 4, seed=seed, niter=50, nredo=3, device="cpu")
    assert assignments.dtype == np.int64 and centroids.dtype == np.float32
    assert hungarian_accuracy(labels, assignments) == 1.0


def test_torch_fallback_used_without_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    features, labels = _blobs(num_clusters=3)
    monkeypatch.setattr(knn_module, "faiss", None)
    assignments, _ = kmeans(features, 3, seed=1)
    assert hungarian_accuracy(labels, assignments) == 1.0


def test_torch_fallback_reseeds_empty_clusters() -> None:
    # Three distinct points repeated: K = 3 with k-means++ always finds them, K = N forces singletons.
    features = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    assignments, _ = _kmeans_torch(features, 3, seed=0, niter=10, nredo=1, device="cpu")
    assert hungarian_accuracy(np.array([0, 0, 1, 1, 2]), assignments) == 1.0
    assignments, _ = _kmeans_torch(features, 5, seed=0, niter=10, nredo=1, device="cpu")
    assert assignments.shape == (5,)


@pytest.mark.parametrize("use_faiss", [True, False])
def test_deterministic_under_seed(use_faiss: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_faiss:
        monkeypatch.setattr(knn_module, "faiss", None)
    features = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    first = kmeans(features, 6, seed=7)
    second = kmeans(features, 6, seed=7)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("num_clusters", [0, 1, 11])
def test_invalid_num_clusters(num_clusters: int) -> None:
    with pytest.raises(DeepclustError, match=rf"num_clusters={num_clusters} for N=10"):
        kmeans(np.random.default_rng(0).normal(size=(10, 2)), num_clusters)


def test_invalid_iterations() -> None:
    with pytest.raises(DeepclustError, match="niter"):
        kmeans(np.random.default_rng(0).normal(size=(10, 2)), 2, niter=0)

import numpy as np
import pytest

from deepclust.cluster import BASELINES, BaselineResult, fit_baseline
from deepclust.errors import DeepclustError
from deepclust.metrics import hungarian_accuracy

# Separated blobs make a disconnected kNN graph by design; spectral clustering's warning about it is expected.
pytestmark = pytest.mark.filterwarnings("ignore:Graph is not fully connected")


def _blobs(num_clusters: int = 4, per_cluster: int = 60, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs around non-negative centres, kept non-negative for NMF."""
    rng = np.random.default_rng(seed)
    # Each blob lights up its own block of coordinates: separated for all three methods, NMF's parts included.
    centers = np.zeros((num_clusters, dim * num_clusters))
    for c in range(num_clusters):
        centers[c, c * dim : (c + 1) * dim] = 10.0
    labels = rng.permutation(np.repeat(np.arange(num_clusters), per_cluster))
    features = np.abs(centers[labels] + 0.5 * rng.normal(size=(len(labels), centers.shape[1])))
    return features.astype(np.float32), labels


def _check_result(result: BaselineResult, sizes: list[int], num_clusters: int) -> None:
    assert [len(c) for c in result.clusters] == sizes and len(result.probabilities) == len(sizes)
    for clusters, probs in zip(result.clusters, result.probabilities, strict=True):
        assert clusters.dtype == np.int64 and clusters.min() >= 0 and clusters.max() < num_clusters
        assert probs.dtype == np.float32 and probs.shape == (len(clusters), num_clusters)
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(probs.argmax(1), clusters)


@pytest.mark.parametrize("method", BASELINES)
def test_recovers_blobs(method: str) -> None:
    train, train_labels = _blobs(seed=0)
    test, test_labels = _blobs(per_cluster=20, seed=1)
    result = fit_baseline(method, train, [test], 4, seed=0)
    _check_result(result, [240, 80], 4)
    assert hungarian_accuracy(train_labels, result.clusters[0]) > 0.95
    assert hungarian_accuracy(test_labels, result.clusters[1]) > 0.95
    np.testing.assert_array_equal(result.fitted, np.arange(240))  # below max_samples: all rows fitted


@pytest.mark.parametrize("method", BASELINES)
def test_same_seed_same_result(method: str) -> None:
    train, _ = _blobs(num_clusters=5, dim=3, seed=2)
    train += np.random.default_rng(3).uniform(0, 6, size=train.shape).astype(np.float32)  # blur the blobs
    first = fit_baseline(method, train, [train[:30]], 5, seed=7, max_samples=200)
    second = fit_baseline(method, train, [train[:30]], 5, seed=7, max_samples=200)
    for a, b in zip(first.clusters + first.probabilities, second.clusters + second.probabilities, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first.fitted, second.fitted)


@pytest.mark.parametrize("method", ["spectral", "agglomerative"])
def test_rows_beyond_max_samples_vote(method: str) -> None:
    train, labels = _blobs(per_cluster=100, seed=4)
    result = fit_baseline(method, train, [], 4, seed=0, max_samples=80)
    _check_result(result, [400], 4)
    assert len(result.fitted) == 80 and len(np.unique(result.fitted)) == 80
    np.testing.assert_array_equal(result.fitted, np.sort(result.fitted))
    other = fit_baseline(method, train, [], 4, seed=1, max_samples=80)
    assert not np.array_equal(result.fitted, other.fitted)  # the subset follows the seed
    probs = result.probabilities[0]
    # Fitted rows are one-hot; the others hold vote shares in tenths (10 voters).
    fitted = np.zeros(len(train), bool)
    fitted[result.fitted] = True
    assert set(np.unique(probs[fitted])) == {0.0, 1.0}
    np.testing.assert_allclose(probs[~fitted] * 10, np.round(probs[~fitted] * 10), atol=1e-5)
    assert hungarian_accuracy(labels[~fitted], result.clusters[0][~fitted]) > 0.95


def test_vote_is_the_share_of_the_nearest_fitted_rows() -> None:
    """Points 0..19 and 30..49 on a line: the ten nearest to 23.2 are 19 to 14 on the left and 30 to 33 on the
    right, so it votes 0.6 / 0.4; -3 has only left neighbours."""
    train = np.concatenate([np.arange(20), np.arange(30, 50)]).astype(np.float32)[:, None]
    result = fit_baseline("agglomerative", train, [np.array([[23.2], [-3.0]], np.float32)], 2)
    left, right = result.clusters[0][0], result.clusters[0][-1]
    np.testing.assert_array_equal(result.clusters[0], np.repeat([left, right], 20))
    np.testing.assert_array_equal(result.clusters[1], [left, left])
    np.testing.assert_allclose(result.probabilities[1][0, [left, right]], [0.6, 0.4])
    np.testing.assert_allclose(result.probabilities[1][1, [left, right]], [1.0, 0.0])


def test_nmf_rejects_negative_input() -> None:
    train, _ = _blobs()
    with pytest.raises(DeepclustError, match="non-negative"):
        fit_baseline("nmf", train - 1.0, [], 4)
    with pytest.raises(DeepclustError, match=r"others\[0\]"):
        fit_baseline("nmf", train, [-train[:5]], 4)


def test_nmf_zero_row_is_uniform() -> None:
    train, _ = _blobs()
    result = fit_baseline("nmf", train, [np.zeros((2, train.shape[1]), np.float32)], 4)
    np.testing.assert_allclose(result.probabilities[1], 0.25)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "dbscan"}, "unknown baseline"),
    ({"num_clusters": 1}, "num_clusters"),
    ({"num_clusters": 50, "max_samples": 40}, "num_clusters"),
    ({"n_neighbors": 500}, "n_neighbors"),
    ({"others": [np.zeros((3, 2), np.float32)]}, "columns"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    train, _ = _blobs()
    args = {"method": "spectral", "others": [], "num_clusters": 4, **kwargs}
    with pytest.raises(DeepclustError, match=match):
        fit_baseline(args.pop("method"), train, args.pop("others"), args.pop("num_clusters"), **args)

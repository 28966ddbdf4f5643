import numpy as np
import pytest

from deepclust.cluster import backend, knn_search, neighbour_accuracy
from deepclust.cluster import knn as knn_module
from deepclust.cluster.knn import _knn_torch, _normalize, _self_first, choose_backend
from deepclust.errors import DeepclustError


def _brute_force(features: np.ndarray, k: int) -> np.ndarray:
    x = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarities = x @ x.T
    return np.argsort(-similarities, axis=1, kind="stable")[:, : k + 1]


def test_backend_name() -> None:
    expected = {"faiss-cpu", "faiss-gpu"} if knn_module.faiss is not None else {"torch-cpu", "torch-cuda"}
    assert backend() in expected


@pytest.mark.parametrize(("faiss_installed", "faiss_gpus", "cuda", "expected"), [
    (True, 8, True, "faiss-gpu"),    # faiss on all 8 GPUs (kNN sharded, k-means gpu=True)
    (True, 1, True, "faiss-gpu"),
    (True, 0, True, "faiss-cpu"),    # faiss-cpu on a GPU machine: still faiss, the CPU fallback kept
    (True, 0, False, "faiss-cpu"),
    (False, 0, True, "torch-cuda"),  # no faiss: the torch fallback on the GPU
    (False, 0, False, "torch-cpu"),
])
def test_choose_backend(faiss_installed: bool, faiss_gpus: int, cuda: bool, expected: str) -> None:
    assert choose_backend(faiss_installed, faiss_gpus, cuda) == expected


@pytest.mark.parametrize("num_samples,dim,k", [(50, 8, 5), (200, 16, 20), (7, 3, 6)])
def test_matches_brute_force(num_samples: int, dim: int, k: int) -> None:
    features = np.random.default_rng(num_samples).normal(size=(num_samples, dim))
    indices = knn_search(features, k, batch_size=16)
    assert indices.dtype == np.int64
    assert indices.shape == (num_samples, k + 1)
    np.testing.assert_array_equal(indices, _brute_force(features, k))
    np.testing.assert_array_equal(indices[:, 0], np.arange(num_samples))


@pytest.mark.parametrize("batch_size", [1, 13, 4096])
def test_torch_fallback_equals_search(batch_size: int) -> None:
    features = np.random.default_rng(0).normal(size=(120, 10)).astype(np.float32)
    x = _normalize(features)
    fallback = _self_first(_knn_torch(x, 11, batch_size, device="cpu"), 10)
    np.testing.assert_array_equal(fallback, knn_search(features, 10))


def test_torch_fallback_used_without_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    features = np.random.default_rng(1).normal(size=(40, 4))
    expected = knn_search(features, 3)
    monkeypatch.setattr(knn_module, "faiss", None)
    assert backend() in {"torch-cpu", "torch-cuda"}
    np.testing.assert_array_equal(knn_search(features, 3), expected)


def test_self_first_with_duplicate_rows() -> None:
    rng = np.random.default_rng(2)
    # Rows 0..4 are identical, so their similarity ties at 1 and self need not rank first,
    # or may fall out of the k + 1 results altogether (k = 2 < 4 duplicates).
    features = np.concatenate([np.repeat(rng.normal(size=(1, 6)), 5, axis=0), rng.normal(size=(20, 6))])
    indices = knn_search(features, 2)
    np.testing.assert_array_equal(indices[:, 0], np.arange(len(features)))
    for row in range(5):
        assert set(indices[row, 1:]) <= set(range(5)) - {row}
    assert all(len(set(row)) == 3 for row in indices.tolist())


def test_self_first_reorders_and_drops() -> None:
    raw = np.array([[1, 0, 2], [3, 2, 0], [2, 1, 3], [3, 0, 1]])
    # Row 0: self at rank 1 moves to the front. Row 1: self absent, the last result is dropped.
    # Row 2: self already first. Row 3: self first.
    expected = np.array([[0, 1, 2], [1, 3, 2], [2, 1, 3], [3, 0, 1]])
    np.testing.assert_array_equal(_self_first(raw, 2), expected)


def test_neighbour_accuracy_hand_case() -> None:
    labels = np.array([0, 0, 1, 1])
    indices = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 3], [3, 0, 1]])
    # Non-self slots matching the anchor: row 0: 1 of 2, row 1: 1 of 2, row 2: 2 of 2, row 3: 0 of 2.
    # 4 / 8 = 0.5; with k = 1 (column 1 only): rows 0, 1, 2 match -> 3 / 4.
    assert neighbour_accuracy(indices, labels) == pytest.approx(0.5)
    assert neighbour_accuracy(indices, labels, k=1) == pytest.approx(0.75)


def test_neighbour_accuracy_errors() -> None:
    indices = np.array([[0, 1], [1, 0]])
    with pytest.raises(DeepclustError, match="k must be"):
        neighbour_accuracy(indices, np.array([0, 1]), k=2)
    with pytest.raises(DeepclustError, match="labels"):
        neighbour_accuracy(indices, np.array([0, 1, 2]))


@pytest.mark.parametrize("k", [0, 5, 6])
def test_invalid_k(k: int) -> None:
    with pytest.raises(DeepclustError, match=rf"k={k} for N=5"):
        knn_search(np.random.default_rng(0).normal(size=(5, 3)), k)


def test_invalid_features() -> None:
    with pytest.raises(DeepclustError, match="features"):
        knn_search(np.zeros(5), 1)
    with pytest.raises(DeepclustError, match="NaN"):
        knn_search(np.full((5, 2), np.nan), 1)

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from deepclust.errors import DeepclustError
from deepclust.metrics import (
    clustering_metrics,
    contingency,
    hungarian_accuracy,
    hungarian_mapping,
    majority_vote_accuracy,
)


def test_permuted_labelling_is_perfect() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([5, 5, 3, 3, 4, 4, 4])
    metrics = clustering_metrics(y_true, y_pred)
    assert metrics["acc"] == 1.0
    assert metrics["nmi"] == pytest.approx(1.0)
    assert metrics["ari"] == pytest.approx(1.0)
    assert metrics["num_clusters"] == 3 and metrics["num_classes"] == 3 and metrics["num_samples"] == 7
    assert "majority_acc" not in metrics
    assert hungarian_mapping(y_true, y_pred) == {3: 1, 4: 2, 5: 0}


def test_hand_case() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([1, 1, 0, 0, 0, 1])
    # Contingency (rows = clusters 0, 1; columns = classes 0, 1): [[1, 2], [2, 1]].
    # Best one-to-one mapping: cluster 1 -> class 0 and cluster 0 -> class 1, 2 + 2 = 4 correct of 6.
    np.testing.assert_array_equal(contingency(y_true, y_pred), [[1, 2], [2, 1]])
    assert hungarian_mapping(y_true, y_pred) == {0: 1, 1: 0}
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert majority_vote_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_more_clusters_than_classes() -> None:
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 0, 1, 1, 2, 2, 2, 1])
    # Contingency (clusters 0, 1, 2 x classes 0, 1): [[2, 0], [2, 1], [0, 3]].
    # Majority vote: cluster 0 -> 0 (2), cluster 1 -> 0 (2), cluster 2 -> 1 (3): 7 / 8.
    # Hungarian (one-to-one): cluster 0 or 1 -> class 0 (2) and cluster 2 -> class 1 (3): 5 / 8;
    # the third cluster is unmatched and its samples count as wrong.
    np.testing.assert_array_equal(contingency(y_true, y_pred), [[2, 0], [2, 1], [0, 3]])
    metrics = clustering_metrics(y_true, y_pred)
    assert metrics["majority_acc"] == pytest.approx(7 / 8)
    assert metrics["acc"] == pytest.approx(5 / 8)
    assert metrics["num_clusters"] == 3 and metrics["num_classes"] == 2
    mapping = hungarian_mapping(y_true, y_pred)
    assert len(mapping) == 2 and mapping[2] == 1 and mapping.get(0, mapping.get(1)) == 0


def test_fewer_clusters_than_classes() -> None:
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1])
    # Cluster 1 -> class 2 (2 correct), cluster 0 -> class 0 or 1 (1 correct): 3 / 4.
    assert hungarian_accuracy(y_true, y_pred) == pytest.approx(0.75)
    assert "majority_acc" not in clustering_metrics(y_true, y_pred)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmi_ari_agree_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 7, size=200))
    metrics = clustering_metrics(y_true, y_pred)
    assert metrics["nmi"] == pytest.approx(
        normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")
    )
    assert metrics["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))
    assert 0.0 <= metrics["acc"] <= metrics.get("majority_acc", 1.0) <= 1.0


def test_accepts_lists_and_integral_floats() -> None:
    assert hungarian_accuracy([0, 1, 1], np.array([2.0, 1.0, 1.0])) == 1.0


def test_errors() -> None:
    with pytest.raises(DeepclustError, match="same length"):
        clustering_metrics(np.array([0, 1]), np.array([0]))
    with pytest.raises(DeepclustError, match="empty"):
        hungarian_accuracy(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    with pytest.raises(DeepclustError, match="y_pred must hold integer labels"):
        contingency(np.array([0, 1]), np.array([0.5, 1.0]))
    with pytest.raises(DeepclustError, match="y_true must be a 1-D"):
        majority_vote_accuracy(np.zeros((2, 2), dtype=int), np.array([0, 1]))

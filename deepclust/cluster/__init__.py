"""Clustering utilities on feature matrices: exact kNN mining, k-means (faiss, or torch without it), PCA and
scikit-learn baselines (spectral, agglomerative Ward, NMF). The number of clusters estimated without labels is
`deepclust.cluster.k_estimate.estimate_k`, not imported here: it would become a code dep of every stage that
clusters."""

from deepclust.cluster.baselines import BASELINES, BaselineResult, fit_baseline
from deepclust.cluster.kmeans import EMPTY_CLUSTER_POLICIES, KMeansResult, assign, distances, kmeans
from deepclust.cluster.knn import backend, knn_search, neighbour_accuracy
from deepclust.cluster.pca import PCA

__all__ = [
    "BASELINES",
    "EMPTY_CLUSTER_POLICIES",
    "PCA",
    "BaselineResult",
    "KMeansResult",
    "assign",
    "backend",
    "distances",
    "fit_baseline",
    "kmeans",
    "knn_search",
    "neighbour_accuracy",
]

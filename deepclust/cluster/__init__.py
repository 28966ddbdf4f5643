"""Clustering utilities on feature matrices: exact kNN mining, k-means (faiss, or torch without it), PCA and
scikit-learn baselines (spectral, agglomerative Ward, NMF), and the number of clusters
estimated without labels."""

from deepclust.cluster.baselines import BASELINES, BaselineResult, fit_baseline
from deepclust.cluster.k_estimate import KEstimate, estimate_k
from deepclust.cluster.kmeans import EMPTY_CLUSTER_POLICIES, KMeansResult, assign, distances, kmeans
from deepclust.cluster.knn import backend, knn_search, neighbour_accuracy
from deepclust.cluster.pca import PCA

__all__ = [
    "BASELINES",
    "EMPTY_CLUSTER_POLICIES",
    "PCA",
    "BaselineResult",
    "KEstimate",
    "KMeansResult",
    "assign",
    "backend",
    "distances",
    "estimate_k",
    "fit_baseline",
    "kmeans",
    "knn_search",
    "neighbour_accuracy",
]

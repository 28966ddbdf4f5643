"""Clustering utilities on feature matrices: exact kNN mining, k-means (faiss, or torch without it) and PCA."""

from deepclust.cluster.kmeans import EMPTY_CLUSTER_POLICIES, KMeansResult, assign, distances, kmeans
from deepclust.cluster.knn import backend, knn_search, neighbour_accuracy
from deepclust.cluster.pca import PCA

__all__ = [
    "EMPTY_CLUSTER_POLICIES",
    "PCA",
    "KMeansResult",
    "assign",
    "backend",
    "distances",
    "kmeans",
    "knn_search",
    "neighbour_accuracy",
]

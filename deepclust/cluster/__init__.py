"""Clustering utilities on feature matrices: exact kNN mining and k-means (faiss, or torch without it)."""

from deepclust.cluster.kmeans import kmeans
from deepclust.cluster.knn import backend, knn_search, neighbour_accuracy

__all__ = ["backend", "kmeans", "knn_search", "neighbour_accuracy"]

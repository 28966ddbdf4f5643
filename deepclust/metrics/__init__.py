"""Clustering metrics (Hungarian and majority-vote accuracy, NMI, ARI) and result figures."""

from deepclust.metrics.clustering import (
    clustering_metrics,
    contingency,
    hungarian_accuracy,
    hungarian_mapping,
    majority_vote_accuracy,
)
from deepclust.metrics.collapse import ClusterUsage, cluster_usage
from deepclust.metrics.plots import plot_cluster_grid, plot_confusion_matrix, plot_curves

__all__ = [
    "ClusterUsage",
    "cluster_usage",
    "clustering_metrics",
    "contingency",
    "hungarian_accuracy",
    "hungarian_mapping",
    "majority_vote_accuracy",
    "plot_cluster_grid",
    "plot_confusion_matrix",
    "plot_curves",
]

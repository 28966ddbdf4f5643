"""kmeans: k-means on the features (faiss or torch), predictions for train and test.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`kmeans.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class KmeansParams(StageParams, kind=Kind(
        "kmeans", "k-means on the features (faiss or torch), predictions for train and test",
        inputs=(DATA, Input("--features", "features")), outputs=("predictions",), facts=("num_classes",),
        selection="k-means: best of nredo runs by inertia")):
    features: Literal["backbone", "head"] = Field(
        "backbone", description="Which features of the upstream embed stage to cluster (the input itself when "
        "there is no network upstream).")
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    l2_normalize: bool = Field(False, description="L2-normalise the features first (after PCA when both are set).")
    pca_dim: int | None = Field(None, ge=1, description="PCA to this many dimensions first (DeepCluster: 256).")
    whiten: bool = Field(False, description="Whiten the PCA output (DeepCluster: yes).")
    spherical: bool = Field(False, description="Spherical k-means: unit-norm centroids, cosine assignment.")
    niter: int = Field(50, ge=1, description="Lloyd iterations per run.")
    nredo: int = Field(3, ge=1, description="Runs from different seeds; the lowest inertia is kept.")
    empty_cluster: Literal["split", "farthest", "keep"] = Field(
        "split", description="An empty cluster takes half of a large one (faiss's rule), the farthest point, or "
        "keeps its centroid.")

"""deepcluster: DeepCluster: k-means pseudo-labels of PCA-whitened features, a classifier, every epoch.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`deepcluster.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import AugmentParams, _Optimised


class DeepClusterParams(_Optimised, kind=Kind(
        "deepcluster", "DeepCluster: k-means pseudo-labels of PCA-whitened features, a classifier, every epoch",
        inputs=(DATA,), outputs=("backbone",), facts=("num_classes", "mean", "std"), trains=True,
        selection="DeepCluster: last epoch")):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    sobel: bool = Field(False, description="Frozen grayscale + Sobel input filter (the reference's --sobel).")
    num_clusters: int = Field(ge=2, description="k of the per-epoch k-means (ImageNet 10000; CIFAR ~100-300).")
    pca_dim: int = Field(256, ge=1, description="PCA (whitened) size before k-means, capped at the feature size.")
    kmeans_niter: int = Field(20, ge=1, description="Lloyd iterations per epoch (20).")
    reassign: float = Field(1.0, gt=0, description="Samples per epoch as a multiple of N, drawn label-uniformly.")
    augment: AugmentParams = Field(description="The views' augmentation, stated by every preset (AugmentParams).")

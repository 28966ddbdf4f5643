"""baseline: scikit-learn baseline (spectral, agglomerative Ward, NMF) on the features, kNN vote for the rest.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`baseline.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class BaselineParams(StageParams, kind=Kind(
        "baseline", "scikit-learn baseline (spectral, agglomerative Ward, NMF) on the features, kNN vote for the rest",
        inputs=(DATA, Input("--features", "features")), outputs=("predictions",), facts=("num_classes",),
        selection="scikit-learn: one fit")):
    method: Literal["spectral", "agglomerative", "nmf"] = Field(
        "spectral", description="Spectral clustering on a kNN graph, agglomerative with Ward linkage, or NMF "
        "(cluster = largest coefficient; needs non-negative features such as pixels).")
    features: Literal["backbone", "head"] = Field(
        "backbone", description="Which features of the upstream embed stage to cluster (the input itself when "
        "there is no network upstream).")
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    max_samples: int = Field(
        10000, ge=2, description="Spectral and agglomerative fit on at most this many training rows (a seeded "
        "subset; their cost grows as N^2); the other rows take the majority cluster of their 10 nearest fitted "
        "rows. NMF fits on all of them.")
    n_neighbors: int = Field(10, ge=1, description="Neighbours per row of spectral's affinity graph (10).")
    nmf_max_iter: int = Field(400, ge=1, description="Most NMF iterations (400); raise it if NMF warns that it "
                              "did not converge.")

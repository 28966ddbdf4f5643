"""estimate_k: the number of clusters K of a data set whose `num_classes` is `auto`, from features, without labels.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`estimate_k.<preset>` of params.yaml (stages/resolve.py). The compiler puts one before the first stage of a run
that needs K (on that run's features: the SimCLR backbone's, a pretrained network's, or the raw input's), and
those stages read its `k.json` (`--k`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class EstimateKParams(StageParams, kind=Kind(
        "estimate_k", "the number of clusters from the features (no labels): criterion per K, the choice, a plot",
        inputs=(DATA, Input("--features", "features")), outputs=("k",), facts=("num_classes",),
        selection="K: the estimate's own rule over the range (no labels)")):
    features: Literal["backbone", "head"] = Field(
        "backbone", description="Which features of the upstream embed stage to use (the input itself when there is "
        "no network upstream).")
    max_samples: int = Field(10000, ge=100, description="Rows used (a seeded subset): the graph criteria cost N^2.")
    repeats: int = Field(3, ge=1, description="Subsamples / k-means restarts the stability criteria average over.")

"""iic: IIC: mutual information of paired views' assignments, overclustering head, sub-heads.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`iic.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import PairClusteringParams


class IICParams(PairClusteringParams, kind=Kind(
        "iic", "IIC: mutual information of paired views' assignments, overclustering head, sub-heads",
        inputs=(DATA,), outputs=("backbone", "clustering", "predictions"), facts=("num_classes", "mean", "std"),
        trains=True, selection="IIC: (epoch, sub-head) with the lowest own loss, collapsed last")):
    lamb: float = Field(1.0, gt=0, description="Marginal weight lambda (1: mutual information; >1: more balanced).")

"""dcdc: DCDC: sample- and class-wise contrast of soft assignments + balance, overclustering head.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`dcdc.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import PairClusteringParams


class DCDCParams(PairClusteringParams, kind=Kind(
        "dcdc", "DCDC: sample- and class-wise contrast of soft assignments + balance, overclustering head",
        inputs=(DATA,), outputs=("backbone", "clustering", "predictions"), facts=("num_classes", "mean", "std"),
        trains=True, selection="DCDC: (epoch, sub-head) with the lowest own loss, collapsed last")):
    temperature: float = Field(0.5, gt=0, description="Temperature of both contrasts (dc_lamda 0.5).")
    balance_weight: float = Field(1.0, ge=0, description="Weight of log K - H(p) (1).")

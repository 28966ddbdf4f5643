"""cc: CC: instance NT-Xent + cluster-column NT-Xent + balance; sub-head/epoch by its own loss.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`cc.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import PairClusteringParams


class CCParams(PairClusteringParams, kind=Kind(
        "cc", "CC: instance NT-Xent + cluster-column NT-Xent + balance; sub-head/epoch by its own loss",
        inputs=(DATA,), outputs=("backbone", "clustering", "predictions"), facts=("num_classes", "mean", "std"),
        trains=True, selection="CC: (epoch, sub-head) with the lowest own loss, collapsed last")):
    instance_temperature: float = Field(0.5, gt=0, description="Instance NT-Xent temperature tau_I (0.5).")
    cluster_temperature: float = Field(1.0, gt=0, description="Cluster NT-Xent temperature tau_C (1.0).")
    balance_weight: float = Field(1.0, ge=0, description="Weight of log K - H(p) per view (1; raise on collapse).")

"""evaluate: ACC / NMI / ARI of every predictions file of the pipeline, confusion matrix, cluster grid.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`evaluate.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class EvaluateParams(StageParams, kind=Kind(
        "evaluate", "ACC / NMI / ARI of every predictions file of the pipeline, confusion matrix, cluster grid",
        inputs=(DATA, Input("--predictions", "predictions", many=True)), outputs=("evaluation",),
        plots=("confusion.png", "clusters.png"))):
    grid_per_cluster: int = Field(8, ge=1, description="Sample images per cluster in clusters.png.")

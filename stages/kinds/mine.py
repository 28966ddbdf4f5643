"""mine: K nearest neighbours (faiss, exact inner product) + neighbour accuracy.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`mine.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class MineParams(StageParams, kind=Kind(
        "mine", "K nearest neighbours (faiss, exact inner product) + neighbour accuracy",
        inputs=(DATA, Input("--features", "features")), outputs=("neighbours",))):
    num_neighbors: int = Field(20, ge=1, description="Neighbours kept per sample (SCAN: 20).")
    features: Literal["head", "backbone"] = Field(
        "head", description="SCAN mines the 128-d head output; backbone features were better on small CPU budgets. "
        "Without a network upstream (scan-on-features) both mean the input itself.")
    accuracy_at: list[int] = Field([1, 5, 20, 50], description="K values at which neighbour accuracy is logged.")

    def problems(self, n_train: int) -> list[str]:  # noqa: D102
        if self.num_neighbors >= n_train:
            return [f"num_neighbors: {self.num_neighbors} neighbours need more than the {n_train} training samples"]
        return []

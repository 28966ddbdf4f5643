"""iic: IIC: mutual information of paired views' assignments, overclustering head, sub-heads.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`iic.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from stages.kinds import DATA, Kind
from stages.params import PairClusteringParams


class IICParams(PairClusteringParams, kind=Kind(
        "iic", "IIC: mutual information of paired views' assignments, overclustering head, sub-heads",
        inputs=(DATA,), outputs=("backbone", "clustering", "predictions"), facts=("num_classes", "mean", "std"),
        trains=True, selection="IIC: (epoch, sub-head) with the lowest own loss, collapsed last")):
    lamb: float = Field(1.0, gt=0, description="Marginal weight lambda (1: mutual information; >1: more balanced).")
    restart_epoch: int | None = Field(
        None, ge=1, description="After this epoch, if every sub-head of the K head is collapsed (cluster_usage), "
        "training starts over from a new initialisation; None: never (a preset whose heads sit collapsed for "
        "many epochs before they move, such as digits, must not set it).")
    restarts: int = Field(2, ge=0, description="The most times `restart_epoch` starts training over.")
    trials: int = Field(
        1, ge=1, description="Initialisations that each train `trial_epochs` epochs; the one with the lowest own "
        "loss (collapsed last) continues to `epochs`, the others are dropped. No labels.")
    trial_epochs: int | None = Field(None, ge=1, description="Epochs of each trial (with `trials` > 1).")

    @model_validator(mode="after")
    def _trials_end_before_the_run(self) -> IICParams:
        if self.trials > 1 and not (self.trial_epochs and self.trial_epochs < self.epochs):
            raise ValueError(f"trials={self.trials} needs trial_epochs below epochs={self.epochs} "
                             f"(got {self.trial_epochs})")
        return self

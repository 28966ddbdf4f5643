"""idfd: IDFD: instance discrimination over a memory bank + feature decorrelation (128-d).

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`idfd.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import AugmentParams, _Optimised


class IDFDParams(_Optimised, kind=Kind(
        "idfd", "IDFD: instance discrimination over a memory bank + feature decorrelation (128-d)",
        inputs=(DATA,), outputs=("backbone",), facts=("num_classes", "mean", "std"), trains=True,
        selection="IDFD: last epoch")):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    temperature: float = Field(1.0, gt=0, description="Instance discrimination tau (IDFD's code: 1.0).")
    decorrelation_temperature: float = Field(2.0, gt=0, description="Feature decorrelation tau2 (2.0).")
    alpha: float = Field(1.0, ge=0, description="Weight of feature decorrelation (1.0).")
    bank_momentum: float = Field(0.5, ge=0, lt=1, description="Memory bank update momentum (0.5).")
    output_dim: int = Field(128, ge=1, description="Embedding size d (128).")
    lr_milestones: list[int] = Field([], description="Epochs at which the lr drops x0.1 (600, 950, 1300, 1650).")
    augment: AugmentParams = Field(description="The views' augmentation, stated by every preset (AugmentParams).")

"""pretext: SimCLR: backbone + projection head trained with NT-Xent.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`pretext.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Kind
from stages.params import AugmentParams, StageParams


class PretextParams(StageParams, kind=Kind(
        "pretext", "SimCLR: backbone + projection head trained with NT-Xent",
        inputs=(DATA,), outputs=("backbone",), facts=("mean", "std"), trains=True, selection="SimCLR: last epoch")):
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    epochs: int = Field(ge=1, description="SimCLR epochs (SCAN: 500). More epochs, better neighbours.")
    batch_size: int = Field(ge=2, description="Images per batch (SCAN: 512, i.e. 1024 views).")
    lr: float = Field(gt=0, description="SGD learning rate (SCAN: 0.4 at batch 512).")
    min_lr_fraction: float = Field(0.001, ge=0, le=1, description="Final lr / lr of the cosine (SCAN: 0.1^3).")
    schedule_per_step: bool = Field(False, description="Cosine per step; SCAN updates it once per epoch.")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    weight_decay: float = Field(1e-4, ge=0, description="Weight decay on all parameters (SCAN: 1e-4).")
    temperature: float = Field(0.1, gt=0, description="NT-Xent temperature (SCAN: 0.1).")
    symmetric: bool = Field(False, description="Two-sided NT-Xent; SCAN's code anchors on the first view only.")
    hidden_dim: int = Field(512, ge=1, description="Projection head hidden size (512).")
    output_dim: int = Field(128, ge=1, description="Projection head output size (128).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: AugmentParams = Field(description="The views' augmentation, stated by every preset (AugmentParams).")

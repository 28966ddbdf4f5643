"""selflabel: confident pseudo-labels (> threshold) on strong views, class-balanced CE.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`selflabel.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams, StrongAugmentParams


class SelflabelParams(StageParams, kind=Kind(
        "selflabel", "confident pseudo-labels (> threshold) on strong views, class-balanced CE",
        inputs=(DATA, Input("--model", "clustering"), Input("--features", "features", unless="backbone"),
                Input("--neighbours", "neighbours", required=False)),
        outputs=("clustering", "predictions"), facts=("mean", "std"), trains=True,
        selection="self-label: last epoch, or the upstream model when its guard steps aside")):
    epochs: int = Field(ge=0, description="Self-labelling epochs (200; STL-10 100); 0 skips the step.")
    batch_size: int = Field(ge=2, description="Images per batch (1000).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate, constant (1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (1e-4).")
    threshold: float = Field(0.99, gt=0, lt=1, description="Confidence for a pseudo-label (0.99).")
    min_confident: float = Field(
        0.1, ge=0, lt=1, description="When fewer training samples than this fraction pass `threshold` at the start, "
        "the threshold drops to the confidence this fraction reaches (said in the log and metrics); 0 never adapts.")
    guard: bool = Field(True, description="Keep the upstream clustering when self-labelling makes it worse by "
                        "SCAN's unlabelled loss on the neighbours (or collapses it), and say so.")
    class_balanced: bool = Field(True, description="Inverse-frequency weights among confident samples.")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = Field(
        description="The strong views' augmentation (SCAN: 4 random ops + Cutout), stated by every preset.")

"""scan: SCAN loss on (anchor, neighbour) pairs; head/epoch picked by unlabelled loss.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`scan.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams, StrongAugmentParams


class ScanParams(StageParams, kind=Kind(
        "scan", "SCAN loss on (anchor, neighbour) pairs; head/epoch picked by unlabelled loss",
        inputs=(DATA, Input("--model", "backbone", required=False),
                Input("--features", "features", unless="backbone"), Input("--neighbours", "neighbours")),
        outputs=("clustering", "predictions"), facts=("num_classes", "mean", "std"), trains=True,
        selection="SCAN: (epoch, head) with the lowest unlabelled selection loss on the training split, "
                  "collapsed heads last")):
    epochs: int = Field(ge=1, description="SCAN epochs (CIFAR-10: 50; CIFAR-100-20, STL-10: 100).")
    batch_size: int = Field(ge=2, description="Anchors per batch (128; CIFAR-100-20: 512).")
    lr: float = Field(1e-4, gt=0, description="Adam learning rate, constant (1e-4).")
    weight_decay: float = Field(1e-4, ge=0, description="Adam weight decay (1e-4).")
    entropy_weight: float = Field(5.0, ge=0, description="Entropy weight (5.0); lower it for imbalanced data.")
    num_heads: int = Field(1, ge=1, description="Heads trained at once; the lowest unlabelled loss is kept.")
    num_clusters: int | None = Field(None, ge=2, description="Clusters; None uses datasets.<ds>.num_classes.")
    head: Literal["linear", "mlp"] = Field(
        "linear", description="Clustering head: SCAN's linear layer, or an MLP (hidden_dim, BN, ReLU) for a frozen "
        "representation such as a feature table (scan-on-features).")
    hidden_dim: int = Field(512, ge=1, description="Hidden size of the MLP head.")
    update_head_only: bool = Field(False, description="Freeze the backbone (ImageNet recipe).")
    selection_neighbors: int = Field(5, ge=1, description="Neighbours in the selection loss (reference: 5).")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    augment: StrongAugmentParams = Field(
        description="The strong views' augmentation (SCAN: 4 random ops + Cutout), stated by every preset.")

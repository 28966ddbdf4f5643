"""dec: DEC (IDEC with reconstruction): k-means init, Student-t Q, KL to the refreshed target P.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`dec.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stages.kinds import DATA, Input, Kind
from stages.params import StageParams


class DecParams(StageParams, kind=Kind(
        "dec", "DEC (IDEC with reconstruction): k-means init, Student-t Q, KL to the refreshed target P",
        inputs=(DATA, Input("--model", "backbone"), Input("--features", "features", required=False)),
        outputs=("clustering", "predictions"), facts=("num_classes",), trains=True,
        selection="DEC: last iteration (stops when < tol of labels change)")):
    num_clusters: int | None = Field(None, ge=2, description="K; None uses datasets.<ds>.num_classes.")
    alpha: float = Field(1.0, gt=0, description="Student-t degrees of freedom (1).")
    reconstruction: bool = Field(False, description="IDEC: keep training the decoder, loss L_r + gamma KL.")
    gamma: float = Field(0.1, gt=0, description="IDEC's weight of the KL term (0.1).")
    optimizer: Literal["sgd", "adam"] = Field("sgd", description="DEC: SGD lr 0.01 momentum 0.9; IDEC: Adam 1e-3.")
    lr: float = Field(0.01, gt=0, description="Learning rate (DEC 0.01 SGD; IDEC 0.001 Adam).")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (0.9).")
    batch_size: int = Field(256, ge=2, description="Samples per batch (256).")
    update_interval: int = Field(140, ge=1, description="Batches between refreshes of the target P (MNIST: 140).")
    tol: float = Field(0.001, ge=0, lt=1, description="Stop when fewer labels than this fraction change (0.1%).")
    max_iterations: int = Field(20000, ge=1, description="Upper bound on batches (DEC-keras maxiter 2e4).")
    kmeans_nredo: int = Field(20, ge=1, description="k-means restarts of the centroid initialisation (20).")

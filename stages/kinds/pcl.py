"""pcl: PCL: MoCo (momentum encoder, queue) + ProtoNCE on k-means prototypes at several granularities.

The kind's declaration (inputs, outputs, data facts, selection) and its settings, validated from
`pcl.<preset>` of params.yaml (stages/resolve.py).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from stages.kinds import DATA, Kind
from stages.params import AugmentParams, _Optimised


class PclParams(_Optimised, kind=Kind(
        "pcl", "PCL: MoCo (momentum encoder, queue) + ProtoNCE on k-means prototypes at several granularities",
        inputs=(DATA,), outputs=("backbone",), facts=("num_classes", "mean", "std"), trains=True,
        selection="PCL: last epoch")):
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Random samples drawn per epoch (None: all of them); a CPU budget on large sets.")
    backbone: str = Field(description="resnet18 | resnet34 | resnet18_stl | small_cnn | small_cnn_s2.")
    width: int = Field(32, ge=1, description="small_cnn(_s2) width (ignored by the ResNets).")
    min_lr_fraction: float = Field(0.0, ge=0, le=1, description="Final lr / lr of the cosine schedule.")
    temperature: float = Field(0.2, gt=0, description="InfoNCE tau and the mean concentration phi (0.2).")
    encoder_momentum: float = Field(0.99, ge=0, lt=1, description="Key encoder EMA (ImageNet 0.999, CIFAR 0.99).")
    queue_size: int = Field(4096, ge=1, description="Negatives in the queue (16384; CIFAR 4096).")
    warmup_epochs: int = Field(20, ge=0, description="InfoNCE-only epochs before the first E-step (20).")
    num_clusters: list[int] = Field(min_length=1, description="Granularities K_m (CIFAR: 100, 250, 500).")
    hidden_dim: int = Field(512, ge=1, description="Projection MLP hidden size.")
    output_dim: int = Field(128, ge=1, description="Embedding size (128).")
    kmeans_niter: int = Field(20, ge=1, description="Lloyd iterations per granularity (20).")
    kmeans_nredo: int = Field(1, ge=1, description="k-means restarts per granularity (reference 5; 1-5 suffice).")
    alpha: float = Field(10.0, gt=0, description="Concentration smoothing alpha (10).")

    @model_validator(mode="after")
    def _prototypes_are_used(self) -> PclParams:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} >= epochs={self.epochs}: ProtoNCE would never train "
                             "(the E-step starts after the warm-up)")
        return self
    augment: AugmentParams = Field(description="The views' augmentation, stated by every preset (AugmentParams).")

"""Backbones, heads and the composite models the stages save: contrastive, clustering and autoencoder.

Every model records its architecture (`architecture(model)`), so a saved artifact names what it holds
and any consumer rebuilds it (`deepclust.models.io`).
"""

from typing import Any

from torch import nn

from deepclust.models.autoencoder import AutoEncoder
from deepclust.models.backbones import BACKBONES, IdentityBackbone, ResNet, SmallCNN, build_backbone
from deepclust.models.heads import (
    ClusteringHead,
    IdentityHead,
    MultiKClusteringHead,
    ProjectionHead,
    SimCLRProjectionHead,
    StudentTHead,
    build_head,
)


class HeadModel(nn.Module):
    """Backbone plus head. With a projection head (SimCLR, PCL, IDFD) it is a *contrastive* model and `forward`
    returns the normalised embedding; with a clustering head (SCAN, CC, DEC, ...) a *clustering* model and
    `forward` returns logits (num_heads, B, num_clusters). The saved record says which (`model_kind`)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.backbone(x))


CLUSTERING_HEADS = ("linear", "mlp", "multi_k", "student_t")  # head kinds whose output is cluster logits


def model_kind(model: nn.Module) -> str | None:
    """`contrastive`, `clustering` or `autoencoder` (what a saved model is), or None for another module."""
    if isinstance(model, AutoEncoder):
        return "autoencoder"
    if isinstance(model, HeadModel):
        head = getattr(model.head, "arch", {})
        return "clustering" if isinstance(head, dict) and head.get("kind") in CLUSTERING_HEADS else "contrastive"
    return None


def architecture(model: nn.Module) -> dict[str, Any]:
    """What a saved model records: its kind and its parts' `arch` (see `build_backbone`, the heads).

    Raises:
        ValueError: A part was built without recording its architecture.
    """
    kind = model_kind(model)
    if kind == "autoencoder":
        return {"model": kind, **getattr(model, "arch")}  # noqa: B009 - nn.Module's typing hides plain attributes
    backbone, head = (getattr(getattr(model, part, None), "arch", None) for part in ("backbone", "head"))
    if kind is None or not isinstance(backbone, dict) or not isinstance(head, dict):
        raise ValueError(f"{type(model).__name__}: build backbones with build_backbone and use deepclust heads")
    return {"model": kind, "backbone": dict(backbone), "head": dict(head)}


def build_model(arch: dict[str, Any]) -> nn.Module:
    """Rebuilds an (untrained) model from `architecture(model)`'s record."""
    kind = arch.get("model")
    if kind == "autoencoder":
        return AutoEncoder(arch["input_dim"], arch["hidden_dims"], arch.get("input_scale"))
    if kind not in ("contrastive", "clustering"):
        raise ValueError(f"unknown model kind {kind!r}; expected autoencoder, contrastive or clustering")
    return HeadModel(build_backbone(**arch["backbone"]), build_head(arch["head"]))


__all__ = [
    "BACKBONES", "CLUSTERING_HEADS", "AutoEncoder", "ClusteringHead", "HeadModel",
    "IdentityBackbone", "IdentityHead", "MultiKClusteringHead", "ProjectionHead", "ResNet", "SimCLRProjectionHead",
    "SmallCNN", "StudentTHead", "model_kind",
    "architecture", "build_backbone", "build_head", "build_model",
]

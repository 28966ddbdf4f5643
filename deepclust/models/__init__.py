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


class ContrastiveModel(nn.Module):
    """Backbone plus projection head; `forward` returns the normalised embedding."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.backbone(x))


class ClusteringModel(nn.Module):
    """Backbone plus clustering head; `forward` returns logits (num_heads, B, num_clusters)."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.backbone(x))


MODELS: dict[str, type[nn.Module]] = {
    "contrastive": ContrastiveModel, "clustering": ClusteringModel, "autoencoder": AutoEncoder,
}


def architecture(model: nn.Module) -> dict[str, Any]:
    """What a saved model records: its kind and its parts' `arch` (see `build_backbone`, the heads).

    Raises:
        ValueError: A part was built without recording its architecture.
    """
    kind = next((k for k, cls in MODELS.items() if type(model) is cls), None)
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
        return AutoEncoder(arch["input_dim"], arch["hidden_dims"])
    if kind not in MODELS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(MODELS)}")
    return MODELS[kind](build_backbone(**arch["backbone"]), build_head(arch["head"]))


__all__ = [
    "BACKBONES", "MODELS", "AutoEncoder", "ClusteringHead", "ClusteringModel", "ContrastiveModel",
    "IdentityBackbone", "IdentityHead", "MultiKClusteringHead", "ProjectionHead", "ResNet", "SimCLRProjectionHead",
    "SmallCNN", "StudentTHead",
    "architecture", "build_backbone", "build_head", "build_model",
]

"""Backbones, heads and the two composite models the stages save: contrastive and clustering."""

from torch import nn

from deepclust.models.backbones import BACKBONES, ResNet, SmallCNN, build_backbone
from deepclust.models.heads import ClusteringHead, ProjectionHead, SimCLRProjectionHead


class ContrastiveModel(nn.Module):
    """Backbone plus projection head; `forward` returns the normalised embedding."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.backbone(x))


class ClusteringModel(nn.Module):
    """Backbone plus multi-head clustering head; `forward` returns logits (num_heads, B, num_clusters)."""

    def __init__(self, backbone: nn.Module, head: ClusteringHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):  # noqa: D102
        return self.head(self.backbone(x))


__all__ = [
    "BACKBONES", "ResNet", "SmallCNN", "build_backbone", "ClusteringHead", "ProjectionHead",
    "SimCLRProjectionHead", "ContrastiveModel", "ClusteringModel",
]

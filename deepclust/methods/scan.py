"""SCAN clustering (arXiv 2005.12320): neighbours should share a cluster, clusters should be balanced."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import SCANLoss
from deepclust.models import ClusteringHead, HeadModel

log = logging.getLogger(__name__)


class SCAN(nn.Module):
    """Backbone + `num_heads` clustering heads trained with the SCAN loss on (anchor, neighbour) pairs.

    Anchor and neighbour get independent draws of the strong augmentation and two forward passes, so
    BatchNorm statistics are per branch (as in the reference). The per-head losses are summed.

    Args:
        backbone: The pretext backbone (weights already loaded).
        transform: Strong augmentation for anchors and neighbours (feature rows: `FeatureTransform`).
        num_clusters: Clusters per head.
        num_heads: Heads trained at once; the one with the lowest unlabelled loss is kept.
        entropy_weight: Weight of the entropy term (SCAN configs: 5.0).
        update_head_only: Freeze the backbone (ImageNet recipe) instead of fine-tuning it (CIFAR/STL recipe).
        hidden_dim: Hidden size of MLP heads; None for SCAN's linear heads.
    """

    def __init__(self, backbone: nn.Module, transform: Callable[..., torch.Tensor], num_clusters: int,
                 num_heads: int = 1, entropy_weight: float = 5.0, update_head_only: bool = False,
                 hidden_dim: int | None = None) -> None:
        super().__init__()
        head = ClusteringHead(cast(int, backbone.output_dim), num_clusters, num_heads, hidden_dim)
        self.model = HeadModel(backbone, head)
        self.transform = transform
        self.criterion = SCANLoss(entropy_weight=entropy_weight, gather_distributed=True)  # global p_bar
        self.update_head_only = update_head_only
        if update_head_only:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> SCAN:
        super().train(mode)
        if self.update_head_only:
            self.model.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics
        return self

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """Returns the summed SCAN loss over heads for uint8 `batch["anchor"]` and `batch["neighbor"]`."""
        anchor_logits = self.model(self.transform(batch["anchor"], state.generator)).float()  # (H, B, C)
        neighbor_logits = self.model(self.transform(batch["neighbor"], state.generator)).float()
        total: torch.Tensor | float = 0.0
        consistency = ent = 0.0
        for a, n in zip(anchor_logits, neighbor_logits, strict=True):
            parts = self.criterion.forward_components(a, n)
            total = total + parts.total
            consistency += parts.consistency.item()
            ent += parts.entropy.item()
        heads = anchor_logits.shape[0]
        assert isinstance(total, torch.Tensor)  # at least one head
        return LossOutput(total, {"consistency": consistency / heads, "entropy": ent / heads})


def scan_batch_maker(images: torch.Tensor, neighbours: torch.Tensor, seed: int, epoch: int):
    """Returns `make_batch(indices)` pairing each anchor with one neighbour drawn uniformly from its list.

    The neighbour list includes the sample itself (column 0), as in the reference, and is redrawn every
    epoch; the draw is seeded by (seed, epoch) so a resumed epoch sees the same pairs.
    """
    g = torch.Generator().manual_seed(seed * 104729 + epoch)
    choice = torch.randint(neighbours.shape[1], (neighbours.shape[0],), generator=g)
    partner = neighbours[torch.arange(neighbours.shape[0]), choice]

    def make_batch(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"anchor": images[idx], "neighbor": images[partner[idx]]}

    return make_batch

"""Heads: a projection head base class, SimCLR's 512-512-128 head, and a multi-head clustering head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """An MLP built from (in_dim, out_dim, batch_norm, activation) blocks, as lightly's ProjectionHead.

    Args:
        blocks: One tuple per linear layer: (input_dim, output_dim, nn.BatchNorm1d or None, activation or None).
    """

    def __init__(self, blocks: list[tuple[int, int, nn.Module | None, nn.Module | None]]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for in_dim, out_dim, bn, act in blocks:
            layers.append(nn.Linear(in_dim, out_dim, bias=bn is None))
            if bn is not None:
                layers.append(bn)
            if act is not None:
                layers.append(act)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SimCLRProjectionHead(ProjectionHead):
    """SimCLR projection head as SCAN uses it: Linear-ReLU-Linear, no BatchNorm, L2-normalised output.

    "We use a MLP with one hidden layer to obtain z_i = g(h_i) = W(2) sigma(W(1) h_i)" (arXiv 2002.05709, 2.1);
    SCAN's models/models.py ContrastiveModel normalises the output.

    Args:
        input_dim: Backbone feature size (512 for ResNet-18).
        hidden_dim: Hidden layer size (512).
        output_dim: Embedding size (128).
    """

    def __init__(self, input_dim: int = 512, hidden_dim: int = 512, output_dim: int = 128) -> None:
        super().__init__([(input_dim, hidden_dim, None, nn.ReLU()), (hidden_dim, output_dim, None, None)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(super().forward(x), dim=1)  # (B, output_dim), unit norm


class ClusteringHead(nn.Module):
    """`num_heads` independent linear heads, each mapping features to `num_clusters` logits (no softmax).

    SCAN trains several heads at once and keeps the one with the lowest unlabelled loss.

    Args:
        input_dim: Backbone feature size.
        num_clusters: Clusters per head (>= 2).
        num_heads: Number of heads (>= 1).
    """

    def __init__(self, input_dim: int, num_clusters: int, num_heads: int = 1) -> None:
        super().__init__()
        if num_clusters < 2:
            raise ValueError(f"num_clusters must be >= 2, got {num_clusters}")
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        self.heads = nn.ModuleList(nn.Linear(input_dim, num_clusters) for _ in range(num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits. Shape: (num_heads, batch_size, num_clusters)."""
        return torch.stack([head(x) for head in self.heads])

    def keep(self, index: int) -> ClusteringHead:
        """Returns a one-head copy holding head `index` (used after SCAN's head selection)."""
        single = ClusteringHead(self.heads[0].in_features, self.heads[0].out_features, 1)
        single.heads[0].load_state_dict(self.heads[index].state_dict())
        return single

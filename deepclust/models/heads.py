"""Heads: a projection head base class, SimCLR's 512-512-128 head, multi-head clustering heads (linear or MLP,
one K or several), each recording its `arch` so a saved model can be rebuilt (models/io.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from deepclust.losses.dec_loss import student_t_assignment


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
    SCAN's models/models.py HeadModel normalises the output.

    Args:
        input_dim: Backbone feature size (512 for ResNet-18).
        hidden_dim: Hidden layer size (512); None for a single linear layer (IDFD's 128-d fc).
        output_dim: Embedding size (128).
    """

    def __init__(self, input_dim: int = 512, hidden_dim: int | None = 512, output_dim: int = 128) -> None:
        blocks: list[tuple[int, int, nn.Module | None, nn.Module | None]] = [(input_dim, output_dim, None, None)]
        if hidden_dim is not None:
            blocks = [(input_dim, hidden_dim, None, nn.ReLU()), (hidden_dim, output_dim, None, None)]
        super().__init__(blocks)
        self.arch = {"kind": "simclr", "input_dim": input_dim, "hidden_dim": hidden_dim, "output_dim": output_dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(super().forward(x), dim=1)  # (B, output_dim), unit norm


class ClusteringHead(nn.Module):
    """`num_heads` independent heads, each mapping features to `num_clusters` logits (no softmax).

    SCAN trains several heads at once and keeps the one with the lowest unlabelled loss. Each head is
    SCAN's single linear layer, or with `hidden_dim` an MLP (Linear-BatchNorm-ReLU-Linear), which a frozen
    or fixed representation (a feature table, `scan-on-features`) needs to separate its clusters.

    Args:
        input_dim: Backbone feature size.
        num_clusters: Clusters per head (>= 2).
        num_heads: Number of heads (>= 1).
        hidden_dim: Hidden size of an MLP head; None for a linear head.
    """

    def __init__(self, input_dim: int, num_clusters: int, num_heads: int = 1, hidden_dim: int | None = None) -> None:
        super().__init__()
        if num_clusters < 2:
            raise ValueError(f"num_clusters must be >= 2, got {num_clusters}")
        if num_heads < 1:
            raise ValueError(f"num_heads must be >= 1, got {num_heads}")
        if hidden_dim is not None and hidden_dim < 1:
            raise ValueError(f"hidden_dim must be >= 1 or None, got {hidden_dim}")
        self.heads = nn.ModuleList(self._head(input_dim, num_clusters, hidden_dim) for _ in range(num_heads))
        self.arch: dict[str, Any] = {"kind": "linear" if hidden_dim is None else "mlp", "input_dim": input_dim,
                                     "num_clusters": num_clusters, "num_heads": num_heads, "hidden_dim": hidden_dim}

    @staticmethod
    def _head(input_dim: int, num_clusters: int, hidden_dim: int | None) -> nn.Module:
        if hidden_dim is None:
            return nn.Linear(input_dim, num_clusters)
        return nn.Sequential(nn.Linear(input_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                             nn.Linear(hidden_dim, num_clusters))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns logits. Shape: (num_heads, batch_size, num_clusters)."""
        return torch.stack([head(x) for head in self.heads])

    def keep(self, index: int) -> ClusteringHead:
        """Returns a one-head copy holding head `index` (used after SCAN's head selection)."""
        arch = self.arch
        single = ClusteringHead(arch["input_dim"], arch["num_clusters"], 1, arch["hidden_dim"])
        single.heads[0].load_state_dict(self.heads[index].state_dict())
        return single


class MultiKClusteringHead(nn.Module):
    """Clustering heads for several numbers of clusters at once, e.g. IIC's K-way head and its
    overclustering head (arXiv 1807.06653, 3.3), each with `num_heads` sub-heads.

    Args:
        input_dim: Backbone feature size.
        num_clusters: One K per head group, e.g. (10, 70).
        num_heads: Sub-heads per group.
        hidden_dim: Hidden size of MLP heads; None for linear heads.
    """

    def __init__(self, input_dim: int, num_clusters: Sequence[int], num_heads: int = 1,
                 hidden_dim: int | None = None) -> None:
        super().__init__()
        if not num_clusters:
            raise ValueError("num_clusters must list at least one K")
        self.groups = nn.ModuleList(ClusteringHead(input_dim, k, num_heads, hidden_dim) for k in num_clusters)
        self.arch: dict[str, Any] = {"kind": "multi_k", "input_dim": input_dim, "num_clusters": list(num_clusters),
                                     "num_heads": num_heads, "hidden_dim": hidden_dim}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Returns one logits tensor per K. Shapes: (num_heads, batch_size, K) for each K."""
        return [group(x) for group in self.groups]


class IdentityHead(nn.Identity):
    """No projection: the head of a feature table's identity "pretext" model (its features are final)."""

    def __init__(self) -> None:
        super().__init__()
        self.arch: dict[str, Any] = {"kind": "identity"}


class StudentTHead(nn.Module):
    """DEC's clustering layer: trainable centroids, Student-t soft assignment (arXiv 1511.06335, eq. 1).

    `forward` returns log q as the logits of one head, so `softmax` of the output is q and the head plugs
    into everything that consumes a clustering model (predictions, self-labelling).

    Args:
        input_dim: Embedding size.
        num_clusters: K.
        alpha: Degrees of freedom of the kernel (DEC and IDEC: 1).
    """

    def __init__(self, input_dim: int, num_clusters: int, alpha: float = 1.0) -> None:
        super().__init__()
        if num_clusters < 2:
            raise ValueError(f"num_clusters must be >= 2, got {num_clusters}")
        self.centroids = nn.Parameter(torch.zeros(num_clusters, input_dim))
        self.alpha = float(alpha)
        self.arch: dict[str, Any] = {"kind": "student_t", "input_dim": input_dim, "num_clusters": num_clusters,
                                     "alpha": self.alpha}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Returns log q. Shape: (1, batch_size, num_clusters)."""
        return student_t_assignment(z, self.centroids, self.alpha).clamp_min(1e-12).log().unsqueeze(0)


def build_head(arch: dict[str, Any]) -> nn.Module:
    """Rebuilds a head from its `arch` record.

    Raises:
        ValueError: Unknown head kind.
    """
    kind = arch.get("kind")
    if kind == "identity":
        return IdentityHead()
    if kind == "simclr":
        return SimCLRProjectionHead(arch["input_dim"], arch["hidden_dim"], arch["output_dim"])
    if kind in ("linear", "mlp"):
        return ClusteringHead(arch["input_dim"], arch["num_clusters"], arch["num_heads"], arch.get("hidden_dim"))
    if kind == "student_t":
        return StudentTHead(arch["input_dim"], arch["num_clusters"], arch["alpha"])
    if kind == "multi_k":
        return MultiKClusteringHead(arch["input_dim"], arch["num_clusters"], arch["num_heads"], arch.get("hidden_dim"))
    raise ValueError(f"unknown head kind {kind!r}; expected identity, simclr, linear, mlp, multi_k or student_t")

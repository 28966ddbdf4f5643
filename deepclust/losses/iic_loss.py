"""IIC (Ji et al., arXiv 1807.06653): mutual information between the cluster assignments of paired views."""

from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

from deepclust.engine.distributed import gather_with_grad


def joint_distribution(probs_a: Tensor, probs_b: Tensor) -> Tensor:
    """P = sym(1/n sum_i z_i z'_i^T), normalised to sum 1. Shape: (K, K)."""
    p = probs_a.T @ probs_b / len(probs_a)
    p = (p + p.T) / 2
    return p / p.sum()


class IICLoss(nn.Module):
    """IIC's loss: minus the mutual information of the symmetrised joint matrix, with the marginal weight lambda.

        P = sym(1/n sum_i z_i z'_i^T) / sum,   P_i = row sums,   P_j = column sums
        L = - sum_{i,j} P_ij (ln P_ij - lambda ln P_i - lambda ln P_j)

    Entries of P, P_i and P_j below the float epsilon (2.2e-16) are raised to it after the marginals are
    taken, as the reference does; the sum runs over the K^2 entries. lambda = 1 gives -I(z; z'); lambda > 1
    weights the marginal entropy more (more balanced clusters). The loss is symmetric in the two views.

    Args:
        lamb: lambda (1.0; 1.5 in IIC's segmentation runs).
        gather_distributed: Concatenate every rank's outputs (with gradients) first: P is the global batch's.
    """

    def __init__(self, lamb: float = 1.0, gather_distributed: bool = False) -> None:
        super().__init__()
        self.lamb = float(lamb)
        self.gather_distributed = bool(gather_distributed)

    def forward(self, probs_a: Tensor, probs_b: Tensor) -> Tensor:
        """Args: softmax outputs of an image and its transformed version, row-paired. Shape: (n, K)."""
        if probs_a.dim() != 2 or probs_a.shape != probs_b.shape:
            raise ValueError(f"expected two (n, K) tensors of one shape, got {tuple(probs_a.shape)} and "
                             f"{tuple(probs_b.shape)}")
        if self.gather_distributed:
            probs_a, probs_b = gather_with_grad(probs_a, probs_b)  # (world_size * n, K) each
        p = joint_distribution(probs_a, probs_b)
        k = p.shape[0]
        p_i = p.sum(dim=1).view(k, 1).expand(k, k)
        p_j = p.sum(dim=0).view(1, k).expand(k, k)
        eps = sys.float_info.epsilon
        p, p_i, p_j = (t.clamp_min(eps) for t in (p, p_i, p_j))
        return -(p * (torch.log(p) - self.lamb * torch.log(p_i) - self.lamb * torch.log(p_j))).sum()

"""DEC's clustering objective (arXiv 1511.06335, 3.1): Student-t soft assignment, sharpened target, KL(P || Q)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def student_t_assignment(z: Tensor, centroids: Tensor, alpha: float = 1.0) -> Tensor:
    """Soft assignment of each embedding to each centroid under a Student's t kernel.

    q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha + 1) / 2) / sum_j' (1 + ||z_i - mu_j'||^2 / alpha)^(-(alpha + 1) / 2)

    Args:
        z: Embeddings. Shape: (N, D).
        centroids: Cluster centres mu. Shape: (K, D).
        alpha: Degrees of freedom (DEC and IDEC: 1).

    Returns:
        Probabilities, each row sums to 1. Shape: (N, K).
    """
    sq = torch.cdist(z.float(), centroids.float()).pow(2)  # (N, K)
    # In log space: (1 + d/alpha)^-p overflows nothing and the row normalisation is a log-softmax.
    log_kernel = -(alpha + 1.0) / 2.0 * torch.log1p(sq / alpha)
    return log_kernel.softmax(dim=1)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's auxiliary target: squares q and divides by the soft cluster frequency, then renormalises rows.

    p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'),  f_j = sum_i q_ij

    Computed on the whole data set (f_j is a data-set frequency), then held fixed for `update_interval` steps.

    Args:
        q: Soft assignments of every sample. Shape: (N, K).

    Returns:
        Targets, each row sums to 1. Shape: (N, K).
    """
    weight = q.pow(2) / q.sum(dim=0).clamp_min(1e-12)
    return weight / weight.sum(dim=1, keepdim=True)


class DECLoss(nn.Module):
    """KL(P || Q) = sum_j p_ij log(p_ij / q_ij), summed over clusters and averaged over the batch.

    Example:
        >>> loss = DECLoss()(student_t_assignment(z, mu), targets[idx])
    """

    def forward(self, q: Tensor, p: Tensor) -> Tensor:
        """Args: q soft assignments (B, K) with gradient; p fixed targets (B, K). Returns a scalar."""
        p = p.float()
        log_ratio = torch.log(p.clamp_min(1e-12)) - torch.log(q.float().clamp_min(1e-12))
        return (p * log_ratio).sum(dim=1).mean()

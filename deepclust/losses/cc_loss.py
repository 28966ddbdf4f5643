"""CC (Li et al., arXiv 2009.09687): cluster-level contrast of the assignment columns and the balance term."""

from __future__ import annotations

import math

from torch import Tensor, nn

from deepclust.engine.distributed import gather_with_grad
from deepclust.losses.ntx_ent_loss import NTXentLoss


def balance_loss(probs: Tensor) -> Tensor:
    """log K - H(p) >= 0 of the cluster-size marginal p of one view (CC's `ne_loss` per view).

        p_k = sum_n Y_nk / sum_{n,k} Y_nk,   L_ne = log K + sum_k p_k log p_k

    The code normalises each view's column sums on their own (the paper's joint form is wrong: CC issue #4).

    Args:
        probs: Soft assignments. Shape: (batch_size, num_clusters).

    Returns:
        The scalar term; 0 when every cluster receives the same mass.
    """
    p = probs.sum(0)
    p = p / p.sum()
    return math.log(probs.shape[1]) + (p * p.clamp_min(1e-12).log()).sum()


class ClusterContrastiveLoss(nn.Module):
    """CC's cluster loss: NT-Xent over the 2K assignment columns, plus the balance term of both views.

    With y^a_k, y^b_k the k-th columns (N-vectors) of the two views' soft assignments, each of the 2K columns
    is an anchor whose positive is the same cluster's column in the other view (cosine similarity,
    temperature tau_C = 1.0):

        L_clu = 1/(2K) sum_{k, v} -log( e^{s(y^v_k, y^v'_k)/tau} / sum_{c != y^v_k} e^{s(y^v_k, c)/tau} )
        L = L_clu + (log K - H(p^a)) + (log K - H(p^b))

    Permuting the clusters of both views together leaves L unchanged. Both terms need the whole batch: a
    column is an N-vector and p a marginal over N images (computed per process, CC loses about 10 ACC points).

    Args:
        temperature: tau_C (CC: 1.0).
        balance_weight: Weight of the balance terms (CC: 1; raise against collapse, lower for imbalanced data).
        gather_distributed: Concatenate every rank's assignments (with gradients) first, so N is the global
            batch; a no-op in a single process.
    """

    def __init__(self, temperature: float = 1.0, balance_weight: float = 1.0, gather_distributed: bool = False
                 ) -> None:
        super().__init__()
        self.contrast = NTXentLoss(temperature, symmetric=True)
        self.balance_weight = float(balance_weight)
        self.gather_distributed = bool(gather_distributed)

    def forward(self, probs_a: Tensor, probs_b: Tensor) -> Tensor:
        """Args: softmax outputs of the two views, row n of each is the same image. Shape: (N, K)."""
        if self.gather_distributed:
            probs_a, probs_b = gather_with_grad(probs_a, probs_b)  # (world_size * N, K) each
        contrast = self.contrast(probs_a.T, probs_b.T)
        return contrast + self.balance_weight * (balance_loss(probs_a) + balance_loss(probs_b))

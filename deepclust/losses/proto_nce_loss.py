"""PCL's losses (arXiv 2005.04966): MoCo's InfoNCE against a queue, and ProtoNCE with per-prototype concentration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def info_nce(query: Tensor, key: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """MoCo's InfoNCE: each query's positive is its own key, the negatives are the queue.

    L = -(1/B) sum_i log exp(q_i . k_i / tau) / (exp(q_i . k_i / tau) + sum_n exp(q_i . r_n / tau))

    Args:
        query: Unit-norm query embeddings (with gradient). Shape: (B, D).
        key: Unit-norm momentum-encoder embeddings of the other view (no gradient). Shape: (B, D).
        queue: Unit-norm negatives from earlier batches. Shape: (R, D).
        temperature: tau (PCL: 0.2).

    Returns:
        Scalar loss.
    """
    positive = (query * key).sum(dim=1, keepdim=True)  # (B, 1)
    negative = query @ queue.t()  # (B, R)
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))


def concentration(distances: np.ndarray, assignments: np.ndarray, num_clusters: int, alpha: float = 10.0,
                  temperature: float = 0.2, clip_percentiles: tuple[float, float] = (10.0, 90.0)) -> np.ndarray:
    """PCL's concentration phi of each prototype, from the E-step's k-means.

    phi_c = sum_z ||v'_z - c|| / (Z log(Z + alpha)) over the Z members of cluster c; a cluster with at most one
    member gets the largest phi; then phi is clipped to its [10th, 90th] percentiles and scaled so that its
    mean is tau (reference-methods.md, section 3; the `run_kmeans` of salesforce/PCL).

    Args:
        distances: Each sample's (not squared) distance to its own centroid. Shape: (N,).
        assignments: Each sample's cluster. Shape: (N,).
        num_clusters: K.
        alpha: Smoothing that keeps small clusters from getting a tiny phi (10).
        temperature: The mean phi after rescaling (PCL: tau = 0.2).
        clip_percentiles: Percentile range phi is clipped to.

    Returns:
        float32 concentrations. Shape: (K,).
    """
    counts = np.bincount(assignments, minlength=num_clusters).astype(np.float64)
    sums = np.bincount(assignments, weights=distances.astype(np.float64), minlength=num_clusters)
    phi = np.zeros(num_clusters)
    big = counts > 1
    phi[big] = sums[big] / (counts[big] * np.log(counts[big] + alpha))
    fill = phi[big].max() if big.any() else temperature
    phi[~big] = fill
    phi = np.clip(phi, *np.percentile(phi, clip_percentiles))
    return (phi * temperature / phi.mean()).astype(np.float32)


class ProtoNCELoss(nn.Module):
    """The prototype term of ProtoNCE, averaged over M granularities.

    L_proto = (1/M) sum_m -(1/B) sum_i log exp(v_i . c^m_s(i) / phi^m_s(i)) / sum_j exp(v_i . c^m_j / phi^m_j)

    The sum in the denominator runs over every prototype of granularity m (the full softmax that
    reference-methods.md, section 3, suggests for K in the hundreds) instead of the batch's positives plus r
    sampled ones, which fails for small K (PCL gotcha 1) and counts a shared prototype twice (gotcha 4).
    """

    def forward(self, query: Tensor, prototypes: Sequence[Tensor], phis: Sequence[Tensor],
                targets: Sequence[Tensor]) -> Tensor:
        """Args:
            query: Unit-norm embeddings. Shape: (B, D).
            prototypes: Unit-norm centroids per granularity. Shapes: (K_m, D).
            phis: Concentration per prototype. Shapes: (K_m,).
            targets: Each sample's cluster per granularity. Shapes: (B,).

        Returns:
            Scalar loss.
        """
        losses = [F.cross_entropy(query @ c.t() / phi, t) for c, phi, t in zip(prototypes, phis, targets, strict=True)]
        return torch.stack(losses).mean()

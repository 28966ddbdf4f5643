"""IDFD (Tao et al., arXiv 2106.00131): instance discrimination over a memory bank + feature decorrelation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def instance_discrimination(features: Tensor, bank: Tensor, index: Tensor, temperature: float = 1.0) -> Tensor:
    """L_I = CE(f_i V^T / tau, i): a full softmax over every instance of the memory bank (no NCE sampling).

    Args:
        features: Unit-norm embeddings of the batch. Shape: (B, d).
        bank: The memory bank, one row per training sample, no gradient. Shape: (n, d).
        index: Each row's sample index. Shape: (B,).
        temperature: tau (IDFD's code: 1.0).
    """
    return F.cross_entropy(features @ bank.T / temperature, index)


def feature_decorrelation(features: Tensor, temperature: float = 2.0) -> Tensor:
    """L_F = 1/d sum_l ( -f_l^T f_l / tau2 + log sum_j exp(f_j^T f_l / tau2) ), f_l = column l of the batch's
    feature matrix, L2-normalised over the batch: a CE over the d x d feature correlations with identity
    targets (IDFD eq. 4; tau2 = 2).

    Args:
        features: The batch's embeddings. Shape: (B, d).
        temperature: tau2 (2.0).
    """
    f = F.normalize(features, dim=0)
    logits = f.T @ f / temperature  # (d, d)
    return F.cross_entropy(logits, torch.arange(len(logits), device=features.device))


class IDFDLoss(nn.Module):
    """L = L_I + alpha L_F (IDFD: tau = 1, tau2 = 2, alpha = 1).

    Args:
        temperature: tau of the instance discrimination.
        decorrelation_temperature: tau2 of the feature decorrelation.
        alpha: Weight of L_F.
    """

    def __init__(self, temperature: float = 1.0, decorrelation_temperature: float = 2.0, alpha: float = 1.0) -> None:
        super().__init__()
        for name, value in (("temperature", temperature), ("decorrelation_temperature", decorrelation_temperature)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.temperature, self.decorrelation_temperature = float(temperature), float(decorrelation_temperature)
        self.alpha = float(alpha)

    def forward(self, features: Tensor, bank: Tensor, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (L, L_I, L_F) for unit-norm `features` (B, d) of samples `index` against `bank` (n, d)."""
        inst = instance_discrimination(features, bank, index, self.temperature)
        decor = feature_decorrelation(features, self.decorrelation_temperature)
        return inst + self.alpha * decor, inst, decor

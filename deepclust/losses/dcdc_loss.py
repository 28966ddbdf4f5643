"""DCDC (Dang et al., arXiv 2103.05484): sample-wise and class-wise contrast of soft assignments, plus balance."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepclust.engine.distributed import gather_with_grad
from deepclust.losses.cc_loss import balance_loss


class DCDCLoss(nn.Module):
    """DCDC's `DCLoss`: the original -> augmented direction of two contrasts, and the balance term.

    With X, X~ the softmax outputs (B x K) of the original and the augmented images and tau = `dc_lamda`:

        S = rownorm(X) rownorm(X~)^T / tau    (B x B),   L_s = CE(S, diag)   (mean over the B rows)
        C = colnorm(X)^T colnorm(X~) / tau    (K x K),   L_c = CE(C, diag)   (mean over the K rows)
        L = L_s + L_c + (log K - H(p)),   p = column sums of X, normalised

    The negatives of a sample are the other augmented samples; of a class, the other classes' columns.
    Permuting the classes of both views together leaves L unchanged.

    Args:
        temperature: tau (DCDC's `dc_lamda`: 0.5).
        balance_weight: Weight of the balance term (1).
        gather_distributed: Concatenate every rank's outputs (with gradients) first: B is the global batch.
    """

    def __init__(self, temperature: float = 0.5, balance_weight: float = 1.0, gather_distributed: bool = False
                 ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.balance_weight = float(balance_weight)
        self.gather_distributed = bool(gather_distributed)

    def forward(self, probs: Tensor, probs_aug: Tensor) -> Tensor:
        """Args: softmax outputs of the originals and their augmentations, row-paired. Shape: (B, K)."""
        if probs.dim() != 2 or probs.shape != probs_aug.shape:
            raise ValueError(f"expected two (B, K) tensors of one shape, got {tuple(probs.shape)} and "
                             f"{tuple(probs_aug.shape)}")
        if self.gather_distributed:
            probs, probs_aug = gather_with_grad(probs, probs_aug)  # (world_size * B, K) each
        sample = F.normalize(probs, dim=1) @ F.normalize(probs_aug, dim=1).T / self.temperature
        cls = F.normalize(probs, dim=0).T @ F.normalize(probs_aug, dim=0) / self.temperature
        sample_loss = F.cross_entropy(sample, torch.arange(len(sample), device=probs.device))
        class_loss = F.cross_entropy(cls, torch.arange(len(cls), device=probs.device))
        return sample_loss + class_loss + self.balance_weight * balance_loss(probs)

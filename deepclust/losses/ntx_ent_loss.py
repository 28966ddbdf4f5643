"""NT-Xent, the contrastive loss of SimCLR, in its standard and its SCAN-repository form."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepclust.engine.distributed import gather_with_grad


class NTXentLoss(nn.Module):
    """Normalized temperature-scaled cross-entropy loss (NT-Xent) of SimCLR.

    With z_i = z0[i] / ||z0[i]||, z'_i = z1[i] / ||z1[i]|| and the 2B candidates c = [z; z'],
    each anchor a_j in c with positive a_j+ (the other view of the same image) contributes

        l_j = -log( exp(a_j . a_j+ / t) / sum_{k != j, k in 1..2B} exp(a_j . c_k / t) )

    where t = `temperature` and B = batch size (arXiv 2002.05709, Equation 1).

    - symmetric=True: the standard loss, mean of l_j over all 2B anchors (both views).
    - symmetric=False: the SCAN repository's form, anchors are the first view only,
      L = (1/B) sum_{i=1..B} l_i with a_i = z_i, a_i+ = z'_i. Both views still receive gradient
      because z' appears in every denominator.

    All other samples in the batch are negatives, so the batch size is taken from the input.
    With B = 1 the denominator holds only the positive and the loss is exactly 0. With `gather_distributed`,
    the batch is the concatenation of every rank's (with gradients), so each rank computes the loss of the
    global batch, the value one process would get on it.

    Attributes:
        temperature: Scale t applied to the cosine similarities.
        symmetric: Whether both views serve as anchors.
        gather_distributed: Whether the negatives come from every rank's batch.

    Raises:
        ValueError: If temperature is not positive.

    Examples:
        >>> loss_fn = NTXentLoss(temperature=0.1)
        >>> z0, z1 = model(view0), model(view1)
        >>> loss = loss_fn(z0, z1)
    """

    def __init__(self, temperature: float = 0.1, symmetric: bool = True, gather_distributed: bool = False) -> None:
        """Builds the loss.

        Args:
            temperature: Softmax temperature t > 0. SimCLR and SCAN use 0.1 at batch size 512.
            symmetric: True for the standard 2B-anchor loss, False for the SCAN repository's
                B-anchor loss.
            gather_distributed: Gather z0 and z1 from every rank (with gradients) before the loss; a no-op
                in a single process.

        Raises:
            ValueError: If temperature <= 0.
        """
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.symmetric = bool(symmetric)
        self.gather_distributed = bool(gather_distributed)

    def forward(self, z0: Tensor, z1: Tensor) -> Tensor:
        """Computes the loss for a batch of paired embeddings.

        Args:
            z0: Embeddings of the first view, L2-normalised inside.
                Shape: (batch_size, embedding_size).
            z1: Embeddings of the second view, row i pairs with z0[i].
                Shape: (batch_size, embedding_size).

        Returns:
            The scalar loss, with the dtype and device of z0.

        Raises:
            ValueError: If the inputs are not 2-D tensors of the same shape, or are empty.
        """
        if z0.dim() != 2 or z0.shape != z1.shape or z0.shape[0] == 0:
            raise ValueError(
                f"z0 and z1 must be non-empty tensors of the same shape (batch_size, embedding_size), "
                f"got {tuple(z0.shape)} and {tuple(z1.shape)}"
            )
        if self.gather_distributed:
            z0, z1 = gather_with_grad(z0, z1)  # (world_size * B, D) each
        batch_size = z0.shape[0]
        candidates = torch.cat([F.normalize(z0, dim=1), F.normalize(z1, dim=1)], dim=0)
        # (2B, 2B) cosine similarities; self-similarity is excluded from every denominator.
        logits = candidates @ candidates.T / self.temperature
        self_mask = torch.eye(2 * batch_size, dtype=torch.bool, device=z0.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        index = torch.arange(batch_size, device=z0.device)
        # Row i (view 0) has its positive at i + B, row i + B (view 1) at i.
        targets = torch.cat([index + batch_size, index])
        if not self.symmetric:
            logits, targets = logits[:batch_size], targets[:batch_size]
        return F.cross_entropy(logits, targets)

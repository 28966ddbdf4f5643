"""SCAN clustering loss: neighbour consistency minus weighted entropy of the mean prediction."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from deepclust.engine.distributed import gather_with_grad

# The reference computes the consistency term as BCE(<p, q>, 1); PyTorch's BCE clamps the log
# at -100. Clamping the inner product keeps log finite with a bound that matters in float32.
_MIN_INNER_PRODUCT = 1e-7
# The reference clamps the mean prediction before taking its log.
_MIN_MEAN_PROB = 1e-8


class SCANLossComponents(NamedTuple):
    """The SCAN loss and its two terms, for logging.

    Attributes:
        total: consistency - entropy_weight * entropy.
        consistency: The neighbour consistency term, -(1/B) sum_i log <p_i, q_i>.
        entropy: The entropy H(p_bar) of the mean anchor prediction.
    """

    total: Tensor
    consistency: Tensor
    entropy: Tensor


def consistency_loss(anchor_probs: Tensor, neighbor_probs: Tensor) -> Tensor:
    """Neighbour consistency term of SCAN: -(1/B) sum_i log <p_i, q_i>.

    The inner product is clamped at 1e-7 before the log so the term stays finite when an anchor and
    its neighbour put all their mass on different clusters.

    Args:
        anchor_probs: Cluster probabilities p of the anchors. Shape: (batch_size, num_clusters).
        neighbor_probs: Cluster probabilities q of one neighbour per anchor.
            Shape: (batch_size, num_clusters).

    Returns:
        The scalar mean negative log inner product.
    """
    inner = (anchor_probs * neighbor_probs).sum(dim=1)
    return -torch.log(inner.clamp(min=_MIN_INNER_PRODUCT)).mean()


def entropy(probs: Tensor) -> Tensor:
    """Entropy of the mean prediction: H(p_bar) = -sum_c p_bar_c log p_bar_c, p_bar = (1/B) sum_i p_i.

    p_bar is clamped at 1e-8 before the log, as in the reference implementation.

    Args:
        probs: Cluster probabilities. Shape: (batch_size, num_clusters).

    Returns:
        The scalar entropy in nats, between 0 and log(num_clusters).
    """
    mean_probs = probs.mean(dim=0).clamp(min=_MIN_MEAN_PROB)
    return -(mean_probs * torch.log(mean_probs)).sum()


class SCANLoss(nn.Module):
    """SCAN loss: make neighbours agree while spreading the batch over all clusters.

        L = -(1/B) sum_i log <p_i, q_i> - lambda * H(p_bar),   H(p_bar) = -sum_c p_bar_c log p_bar_c

    where p_i = softmax(`anchor_logits`[i]), q_i = softmax(`neighbor_logits`[i]),
    p_bar = (1/B) sum_i p_i, lambda = `entropy_weight` and B = batch size
    (arXiv 2005.12320, Equation 2). The entropy uses the anchor predictions only; gradients flow
    through both branches. The loss is negative by design, bounded below by -lambda * log(C).

    With `gather_distributed`, p_bar is the mean over every rank's anchors (gathered with gradients); the
    consistency term stays per rank (DDP's gradient averaging makes it the global mean).

    Attributes:
        entropy_weight: Weight lambda of the entropy term.
        gather_distributed: Whether the entropy term uses the global batch.

    Raises:
        ValueError: If entropy_weight is negative.

    Examples:
        >>> loss_fn = SCANLoss(entropy_weight=5.0)
        >>> loss = loss_fn(model(anchors), model(neighbors))
    """

    def __init__(self, entropy_weight: float = 5.0, gather_distributed: bool = False) -> None:
        """Builds the loss.

        Args:
            entropy_weight: Weight lambda >= 0 of the entropy term. The SCAN configs use 5.0 on
                CIFAR-10, CIFAR-100-20 and STL-10.
            gather_distributed: Take p_bar over every rank's anchors; a no-op in a single process.

        Raises:
            ValueError: If entropy_weight < 0.
        """
        super().__init__()
        if not entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight}")
        self.entropy_weight = float(entropy_weight)
        self.gather_distributed = bool(gather_distributed)

    def forward(self, anchor_logits: Tensor, neighbor_logits: Tensor) -> Tensor:
        """Computes the total loss.

        Args:
            anchor_logits: Cluster logits of the anchors (no softmax applied).
                Shape: (batch_size, num_clusters).
            neighbor_logits: Cluster logits of one neighbour per anchor.
                Shape: (batch_size, num_clusters).

        Returns:
            The scalar loss consistency - entropy_weight * entropy.

        Raises:
            ValueError: If the inputs are not 2-D tensors of the same shape, or are empty.
        """
        return self.forward_components(anchor_logits, neighbor_logits).total

    def forward_components(self, anchor_logits: Tensor, neighbor_logits: Tensor) -> SCANLossComponents:
        """Computes the total loss and its two terms.

        Args:
            anchor_logits: Cluster logits of the anchors. Shape: (batch_size, num_clusters).
            neighbor_logits: Cluster logits of one neighbour per anchor.
                Shape: (batch_size, num_clusters).

        Returns:
            SCANLossComponents(total, consistency, entropy), all scalars.

        Raises:
            ValueError: If the inputs are not 2-D tensors of the same shape, or are empty.
        """
        if (
            anchor_logits.dim() != 2
            or anchor_logits.shape != neighbor_logits.shape
            or anchor_logits.numel() == 0
        ):
            raise ValueError(
                "anchor_logits and neighbor_logits must be non-empty tensors of the same shape "
                f"(batch_size, num_clusters), got {tuple(anchor_logits.shape)} and "
                f"{tuple(neighbor_logits.shape)}"
            )
        anchor_probs = anchor_logits.softmax(dim=1)
        neighbor_probs = neighbor_logits.softmax(dim=1)
        consistency = consistency_loss(anchor_probs, neighbor_probs)
        ent = entropy(gather_with_grad(anchor_probs)[0] if self.gather_distributed else anchor_probs)
        total = consistency - self.entropy_weight * ent
        return SCANLossComponents(total=total, consistency=consistency, entropy=ent)

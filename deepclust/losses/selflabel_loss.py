"""SCAN self-labelling loss: class-balanced cross-entropy on confident pseudo-labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")


def confident_mask(weak_logits: Tensor, threshold: float) -> Tensor:
    """Marks the samples whose weak-view prediction is confident: max_c softmax(weak_logits)_c > threshold.

    Args:
        weak_logits: Cluster logits of the weakly augmented views. Shape: (batch_size, num_clusters).
        threshold: Confidence threshold in (0, 1); the comparison is strict.

    Returns:
        A boolean tensor on the input's device. Shape: (batch_size,).

    Raises:
        ValueError: If threshold is outside (0, 1) or weak_logits is not 2-D.
    """
    _check_threshold(threshold)
    if weak_logits.dim() != 2:
        raise ValueError(
            f"weak_logits must have shape (batch_size, num_clusters), got {tuple(weak_logits.shape)}"
        )
    return weak_logits.detach().softmax(dim=1).amax(dim=1) > threshold


class SelfLabelLoss(nn.Module):
    """Self-labelling loss of SCAN: cross-entropy on the strong view against confident weak-view labels.

        y_i = argmax_c softmax(w_i)_c,   m_i = 1[max_c softmax(w_i)_c > tau]
        L = sum_i m_i * a_{y_i} * CE(s_i, y_i) / sum_i m_i * a_{y_i}

    where w = `weak_logits` (detached), s = `strong_logits`, tau = `threshold`, and with
    class_balanced=True a_c = n_conf / n_c for each class c present among the n_conf confident
    samples (n_c of them labelled c), a_c = 1 otherwise; with class_balanced=False a_c = 1
    (arXiv 2005.12320, Section 3.3 "Fine-tuning through self-labeling"; the class balancing
    follows the authors' repository).
    With balancing, L equals the average over present classes of the per-class mean CE.

    Unlike the reference implementation, which crashes on a batch without any confident sample,
    `forward` returns None for such a batch so the caller can skip it.

    Attributes:
        threshold: Confidence threshold tau.
        class_balanced: Whether classes are re-weighted per batch.

    Raises:
        ValueError: If threshold is outside (0, 1).

    Examples:
        >>> loss_fn = SelfLabelLoss(threshold=0.99)
        >>> with torch.no_grad():
        ...     weak = model(weak_images)
        >>> loss = loss_fn(weak, model(strong_images))
        >>> if loss is not None:
        ...     loss.backward()
    """

    def __init__(self, threshold: float = 0.99, class_balanced: bool = True) -> None:
        """Builds the loss.

        Args:
            threshold: Confidence threshold tau in (0, 1). SCAN uses 0.99.
            class_balanced: Re-weight present classes to equal total weight per batch (SCAN on
                CIFAR and STL); False for plain mean CE (SCAN on ImageNet).

        Raises:
            ValueError: If threshold is outside (0, 1).
        """
        super().__init__()
        _check_threshold(threshold)
        self.threshold = float(threshold)
        self.class_balanced = bool(class_balanced)

    def forward(self, weak_logits: Tensor, strong_logits: Tensor) -> Tensor | None:
        """Computes the loss on the confident samples of a batch.

        Args:
            weak_logits: Cluster logits of the weak views; used only for pseudo-labels and detached.
                Shape: (batch_size, num_clusters).
            strong_logits: Cluster logits of the strongly augmented views, row i pairs with
                weak_logits[i]. Shape: (batch_size, num_clusters).

        Returns:
            The scalar loss, or None when no sample is confident.

        Raises:
            ValueError: If the inputs are not 2-D tensors of the same shape.
        """
        if weak_logits.dim() != 2 or weak_logits.shape != strong_logits.shape:
            raise ValueError(
                "weak_logits and strong_logits must have the same shape (batch_size, num_clusters), "
                f"got {tuple(weak_logits.shape)} and {tuple(strong_logits.shape)}"
            )
        weak_probs = weak_logits.detach().softmax(dim=1)
        max_prob, pseudo_labels = weak_probs.max(dim=1)
        mask = max_prob > self.threshold
        if not bool(mask.any()):
            return None
        targets = pseudo_labels[mask]
        logits = strong_logits[mask]
        weight = None
        if self.class_balanced:
            classes, counts = torch.unique(targets, return_counts=True)
            weight = torch.ones(
                strong_logits.shape[1], dtype=strong_logits.dtype, device=strong_logits.device
            )
            weight[classes] = targets.numel() / counts.to(strong_logits.dtype)
        return F.cross_entropy(logits, targets, weight=weight, reduction="mean")

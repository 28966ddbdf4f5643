"""Self-labelling (SCAN arXiv 2005.12320, 3.2): confident predictions become labels for strong views."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import SelfLabelLoss
from deepclust.methods.head_selection import selection_losses
from deepclust.metrics import cluster_usage


def adapted_threshold(probs: torch.Tensor, threshold: float, min_fraction: float) -> float:
    """The confidence self-labelling uses: THRESHOLD, or, when fewer than MIN_FRACTION of the samples pass
    it, the confidence that MIN_FRACTION of them reach (SCAN users see 0.99 pass almost nobody on hard or
    small data, and the step then trains on a handful of samples). Never above THRESHOLD.

    Args:
        probs: Cluster probabilities of the training split before self-labelling. Shape: (N, K).
        threshold: The configured threshold (0.99).
        min_fraction: The smallest fraction of confident samples to train on; 0 keeps THRESHOLD.
    """
    confidence = probs.max(1).values.double()
    if min_fraction <= 0 or (confidence > threshold).double().mean() >= min_fraction:
        return threshold
    quantile = float(torch.quantile(confidence, 1.0 - min_fraction))
    floor = 1.0 / probs.shape[1] + 1e-6  # above chance, so the mask means something
    return float(min(threshold, max(quantile - 1e-6, floor)))  # the mask is strict: `>`


def keep_self_labelled(before: np.ndarray, after: np.ndarray, neighbours: np.ndarray | None,
                       num_neighbors: int = 5) -> tuple[bool, str]:
    """Whether the self-labelled clustering may replace the one it started from, judged without labels.

    It may not when its clusters collapse (`cluster_usage`) while the start's did not, or, given the
    training split's neighbours, when SCAN's unlabelled selection loss (neighbour consistency minus the
    entropy of the mean prediction) got worse: self-labelling then steps aside and says why.

    Args:
        before: Probabilities before self-labelling (the SCAN model's). Shape: (N, K).
        after: Probabilities after it. Shape: (N, K).
        neighbours: Neighbour indices, self first, or None. Shape: (N, k + 1).
        num_neighbors: Neighbours per sample in the selection loss.

    Returns:
        (keep, reason): keep is False when the start's clustering should be kept; reason says why.
    """
    k = before.shape[1]
    usage_before = cluster_usage(before.argmax(1), k)
    usage_after = cluster_usage(after.argmax(1), k)
    if usage_after.collapsed and not usage_before.collapsed:
        return False, f"the self-labelled clustering collapsed ({usage_after.describe()})"
    if neighbours is None:
        return True, "no neighbours to compare with: kept (collapse guard passed)"
    loss_before, loss_after = (float(selection_losses(torch.from_numpy(p)[None], neighbours, num_neighbors)[0])
                               for p in (before, after))
    if loss_after > loss_before:
        return False, f"SCAN's unlabelled loss rose from {loss_before:.4f} to {loss_after:.4f}"
    return True, f"SCAN's unlabelled loss {loss_before:.4f} -> {loss_after:.4f}"


class SelfLabel(nn.Module):
    """Fine-tunes a one-head clustering model on its own confident predictions.

    The weak view is the un-augmented image, forwarded without gradient but in train mode, so BatchNorm
    uses batch statistics, as in the reference. Batches with no confident sample are skipped (the
    reference crashes on them, I#21/I#128).

    Args:
        model: Clustering model with a single head (the head SCAN selected).
        weak_transform: The eval transform (feature rows: `FeatureTransform`).
        strong_transform: SCAN's strong augmentation (feature rows: the weak transform again).
        threshold: Confidence above which a prediction becomes a label (0.99).
        class_balanced: Weight the cross entropy by inverse class frequency among confident samples.
    """

    def __init__(self, model: nn.Module, weak_transform: Callable[..., torch.Tensor],
                 strong_transform: Callable[..., torch.Tensor], threshold: float = 0.99,
                 class_balanced: bool = True) -> None:
        super().__init__()
        self.model = model
        self.weak_transform = weak_transform
        self.strong_transform = strong_transform
        self.criterion = SelfLabelLoss(threshold=threshold, class_balanced=class_balanced)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput | None:
        """Returns the masked, class-balanced cross entropy, or None when no sample is confident."""
        images = batch["images"]
        with torch.no_grad():
            weak_logits = self.model(self.weak_transform(images, None))[0].float()  # (B, C)
        strong_logits = self.model(self.strong_transform(images, state.generator))[0].float()
        loss = self.criterion(weak_logits, strong_logits)
        if loss is None:
            return None
        confident = (weak_logits.softmax(1).max(1).values > self.criterion.threshold).float().mean().item()
        return LossOutput(loss, {"confident_fraction": confident})

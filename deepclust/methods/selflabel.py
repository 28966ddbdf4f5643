"""Self-labelling (SCAN arXiv 2005.12320, 3.2): confident predictions become labels for strong views."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import SelfLabelLoss


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

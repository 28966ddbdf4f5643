"""Deterministic evaluation transform: uint8 batch to normalised float, no augmentation."""

from collections.abc import Sequence

import torch
from torch import Tensor

from deepclust.transforms import functional as TF
from deepclust.transforms._validation import check_images, check_mean_std


class EvalTransform:
    """Convert to float and normalise, as ToTensor + Normalize in the SimCLR/SCAN validation transforms.

    Args:
        mean: Per-channel means, 1 or 3 entries.
        std: Per-channel standard deviations, like `mean`.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = check_mean_std(mean, std)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Normalise a batch; `generator` is accepted for a uniform transform interface and unused.

        Args:
            images: Shape: (B, H, W, C) uint8, C = len(mean).
            generator: Ignored.

        Returns:
            Shape: (B, C, H, W) float32, normalised.
        """
        check_images(images, self.mean)
        return TF.normalize(TF.to_float(images), self.mean, self.std)

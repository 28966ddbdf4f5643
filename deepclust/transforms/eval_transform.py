"""Deterministic evaluation transform: uint8 batch to normalised float, no augmentation."""

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from deepclust.transforms import functional as TF
from deepclust.transforms._validation import check_images, check_mean_std


class EvalTransform:
    """Convert to float and normalise, as ToTensor + Normalize in the SimCLR/SCAN validation transforms.

    For a pretrained network (`deepclust.models.pretrained`), `size` resizes every image to the side the
    weights expect (bilinear, antialiased; no crop, since data set images are already framed) and `rgb`
    repeats a grayscale batch to 3 channels, so it is normalised with the network's RGB statistics.

    Args:
        mean: Per-channel means, 1 or 3 entries.
        std: Per-channel standard deviations, like `mean`.
        size: Side to resize to, or None to keep the images' size.
        rgb: Repeat 1-channel images to 3 channels (needs 3-entry `mean` and `std`).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], size: int | None = None,
                 rgb: bool = False) -> None:
        self.mean, self.std = check_mean_std(mean, std)
        if size is not None and size < 1:
            raise ValueError(f"size must be >= 1 or None, got {size}")
        if rgb and len(self.mean) != 3:
            raise ValueError(f"rgb needs 3-entry mean and std, got mean {mean}")
        self.size, self.rgb = size, rgb

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Normalise a batch; `generator` is accepted for a uniform transform interface and unused.

        Args:
            images: Shape: (B, H, W, C) uint8, C = len(mean).
            generator: Ignored.

        Returns:
            Shape: (B, C, H, W) float32, normalised; (B, C, size, size) with `size`, C = 3 with `rgb`.
        """
        if self.rgb and images.ndim == 4 and images.shape[-1] == 1:
            images = images.expand(-1, -1, -1, 3)
        check_images(images, self.mean)
        x = TF.to_float(images)
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return TF.normalize(x, self.mean, self.std)

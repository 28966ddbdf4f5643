"""A pair of views from two transforms: IIC's and DCDC's (original, augmented) images."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class PairTransform:
    """`[first(images), second(images)]`, drawn one after the other from the same generator.

    Args:
        first: The "original" view (DCDC: a random crop; IIC: a centre or random crop).
        second: The augmented view.
    """

    def __init__(self, first: Callable[[Tensor, torch.Generator], Tensor],
                 second: Callable[[Tensor, torch.Generator], Tensor]) -> None:
        self.first, self.second = first, second

    def __call__(self, images: Tensor, generator: torch.Generator) -> list[Tensor]:
        return [self.first(images, generator), self.second(images, generator)]

"""The fixed CIFAR-100 -> 20 superclass table used by IIC, SCAN and most deep-clustering papers.

It equals the official CIFAR-100 `coarse_labels` (and wvangansbeke/Unsupervised-Classification
`data/cifar.py`), so results on "CIFAR-20" stay comparable with published numbers.
"""

from __future__ import annotations

import numpy as np

# Index i holds the superclass of fine class i (fine classes in torchvision's alphabetical order).
CIFAR100_TO_20: tuple[int, ...] = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3,
    3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10,
    16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19,
    2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
    18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)  # fmt: skip

CIFAR20_CLASS_NAMES: tuple[str, ...] = (
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
)


def to_cifar20(fine_labels: np.ndarray) -> np.ndarray:
    """Maps CIFAR-100 fine labels to the 20 superclasses.

    Args:
        fine_labels: int array (N,) with values in [0, 100).

    Returns:
        int64 array (N,) with values in [0, 20).
    """
    table = np.asarray(CIFAR100_TO_20, dtype=np.int64)
    return table[np.asarray(fine_labels, dtype=np.int64)]

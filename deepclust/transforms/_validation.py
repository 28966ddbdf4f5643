"""Argument checks shared by the transforms; each raises ValueError naming the offending argument."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def check_probability(name: str, value: float) -> float:
    """Return `value` as a float if it lies in [0, 1], else raise ValueError naming `name`."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def check_range(
    name: str, value: Sequence[float], low: float, high: float, open_low: bool = False
) -> tuple[float, float]:
    """Return `value` as a (lo, hi) tuple with low <= lo <= hi <= high (lo > low if open_low)."""
    if len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < low or hi > high or (
        open_low and lo <= low
    ):
        bound = "(" if open_low else "["
        raise ValueError(f"{name} must satisfy min <= max within {bound}{low}, {high}], got {value}")
    return lo, hi


def check_mean_std(
    mean: Sequence[float], std: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Return mean and std as tuples of 1 or 3 floats, std > 0, else raise ValueError."""
    mean_t, std_t = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean_t) not in (1, 3):
        raise ValueError(f"mean must have 1 or 3 entries, got {mean}")
    if len(std_t) != len(mean_t) or any(not s > 0 for s in std_t):
        raise ValueError(f"std must have {len(mean_t)} positive entries like mean, got {std}")
    return mean_t, std_t


def check_images(images: Tensor, mean: Sequence[float]) -> None:
    """Raise ValueError unless `images` is (B, H, W, C) uint8 with C equal to len(mean)."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(
            f"images must be a non-empty uint8 tensor of shape (B, H, W, C), "
            f"got dtype {images.dtype} and shape {tuple(images.shape)}"
        )
    if images.shape[-1] != len(mean):
        raise ValueError(f"images have {images.shape[-1]} channels but mean/std have {len(mean)} entries")

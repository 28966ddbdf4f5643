"""Cheap data-set statistics (per-channel mean/std for normalisation)."""

from __future__ import annotations

import numpy as np

from deepclust.errors import DeepclustError


def dataset_stats(
    images: np.ndarray | None, chunk: int = 8192
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, on the [0, 1] scale.

    Exact: it counts the 256 values per channel instead of summing floats.

    Args:
        images: uint8 (N, H, W, C); a feature split's `images` (None) is refused.
        chunk: images per step; bounds the temporary that `np.bincount` makes.

    Returns:
        (mean, std), each a tuple of C floats, ready for `transforms.Normalize`.

    Raises:
        DeepclustError: no images (a features source: skip the statistics), or not uint8 (N, H, W, C).
    """
    if images is None:
        raise DeepclustError("dataset_stats needs images, got None: a features split has none (skip the stats)")
    if images.ndim != 4 or len(images) == 0 or images.dtype != np.uint8:
        raise DeepclustError(
            f"dataset_stats expects non-empty uint8 (N, H, W, C); got {images.dtype} {images.shape}"
        )
    c = images.shape[-1]
    hist = np.zeros((c, 256))
    for start in range(0, len(images), chunk):
        flat = images[start : start + chunk].reshape(-1, c)
        for ch in range(c):
            hist[ch] += np.bincount(flat[:, ch], minlength=256)
    values = np.arange(256) / 255.0
    count = hist.sum(1)
    mean = hist @ values / count
    var = (hist * (values[None, :] - mean[:, None]) ** 2).sum(1) / count
    return tuple(float(v) for v in mean), tuple(float(v) for v in np.sqrt(var))

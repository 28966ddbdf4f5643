"""Decoding encoded images (bytes or files) once into one uint8 (N, H, W, C) array."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)

# Below this many images decoding takes well under a second: no progress bar.
_PROGRESS_MIN = 5000


def _open(item: bytes | Path, image_size: int | None) -> Image.Image:
    img: Image.Image = Image.open(item if isinstance(item, Path) else io.BytesIO(item))
    img.load()
    # "L" keeps one channel; every other mode (P, RGBA, CMYK, I;16, ...) becomes RGB.
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if image_size is not None and img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return img


def decode_images(
    items: Sequence[bytes | Path],
    where: Callable[[int], str],
    image_size: int | None = None,
    desc: str = "decoding",
) -> np.ndarray:
    """Decodes encoded images into one array; every image must share the first one's size and mode.

    Args:
        items: N encoded images, as raw bytes or as file paths.
        where: maps an index to a human-readable location ("train.parquet row 17") for errors.
        image_size: if given, each image is resized to (image_size, image_size) with bilinear filtering.
        desc: label of the progress bar.

    Returns:
        uint8 (N, H, W, C), C = 1 when the images are grayscale ("L"), else 3.

    Raises:
        DeepclustError: an image cannot be decoded, or its size/mode differs from the first image's.
    """
    if len(items) == 0:
        raise DeepclustError(f"no images to decode ({desc}): expected at least one image")
    out: np.ndarray | None = None
    bar = tqdm(items, desc=desc, unit="img", disable=True if len(items) < _PROGRESS_MIN else None)
    for i, item in enumerate(bar):
        if item is None:
            raise DeepclustError(f"image {where(i)} is empty (null), expected encoded image bytes")
        try:
            img = _open(item, image_size)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DeepclustError(f"cannot decode image {where(i)}: {e}") from e
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if out is None:
            out = np.empty((len(items), *arr.shape), dtype=np.uint8)
        elif arr.shape != out.shape[1:]:
            raise DeepclustError(
                f"image {where(i)} has shape (H, W, C) = {arr.shape}, expected {out.shape[1:]} like the "
                "first image (all images must share size and mode; set image_size to resize)"
            )
        out[i] = arr
    assert out is not None
    logger.info("decoded %d images of shape %s", len(out), out.shape[1:])
    return out

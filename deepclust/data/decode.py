"""Decoding encoded images (bytes or files) once into one uint8 (N, H, W, C) array."""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from deepclust.errors import DeepclustError

logger = logging.getLogger(__name__)

# Below this many images decoding takes well under a second: no progress bar.
_PROGRESS_MIN = 5000

# What PIL raises for corrupt, truncated or unsupported data (UnidentifiedImageError is an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)

_SKIP_HINT = "set skip_unreadable: true in the source to skip such files"


class Decoded(NamedTuple):
    """What `decode_images` returns.

    Attributes:
        images: uint8 (M, H, W, C), the M decodable images in input order.
        kept: int64 (M,), their indices into the input items (index labels and ids with it).
        skipped: `(index, reason)` for each unreadable item, reason a single line; empty unless
            `skip_unreadable` was set.
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[int, str]]


def _reason(e: BaseException) -> str:
    # PIL names in-memory data by its object address; drop it so that the data set card is reproducible.
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "(bytes)", " ".join(str(e).split()))
    return f"{type(e).__name__}: {text[:300]}"


def _open(item: bytes | Path, image_size: int | None, mode: str | None) -> Image.Image:
    """Decodes one image as "L" or "RGB" (`mode`, the first image's, when given)."""
    # Files are read as bytes too, so that a failure reads the same whatever machine or folder it came from.
    img: Image.Image = Image.open(io.BytesIO(item.read_bytes() if isinstance(item, Path) else item))
    img.load()
    # "L" keeps one channel; every other mode (P, RGBA, CMYK, I;16, ...) becomes RGB. Later images take
    # the first one's mode, since photo folders often mix grayscale and colour files.
    target = mode or ("L" if img.mode == "L" else "RGB")
    if img.mode != target:
        img = img.convert(target)
    if image_size is not None and img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return img


def _decode_one(item: bytes | Path | None, image_size: int | None, mode: str | None) -> Image.Image | str:
    """The decoded image, or a one-line reason why it cannot be decoded."""
    if item is None:
        return "empty (null) entry, expected encoded image bytes"
    try:
        return _open(item, image_size, mode)
    except _DECODE_ERRORS as e:
        return _reason(e)


def decode_images(
    items: Sequence[bytes | Path | None],
    where: Callable[[int], str],
    image_size: int | None = None,
    desc: str = "decoding",
    skip_unreadable: bool = False,
) -> Decoded:
    """Decodes encoded images into one array; every image must share the first one's size.

    An image whose channel count differs from the first image's (grayscale among RGB or the reverse)
    is converted to the first image's mode.

    Args:
        items: N encoded images, as raw bytes or as file paths; None counts as unreadable.
        where: maps an index to a human-readable location ("train.parquet row 17") for errors.
        image_size: if given, each image is resized to (image_size, image_size) with bilinear filtering.
        desc: label of the progress bar.
        skip_unreadable: leave out (and log) images that cannot be decoded instead of raising.

    Returns:
        `Decoded(images, kept, skipped)`: images uint8 (M, H, W, C) with C = 1 when the first image is
        grayscale ("L"), else 3; kept int64 (M,) indices into `items`; skipped `(index, reason)` pairs.

    Raises:
        DeepclustError: an image cannot be decoded (without `skip_unreadable`), none can, or an image's
            size differs from the first image's (a configuration problem: set image_size).
    """
    n = len(items)
    if n == 0:
        raise DeepclustError(f"no images to decode ({desc}): expected at least one image")
    out: np.ndarray | None = None
    mode: str | None = None
    kept: list[int] = []
    skipped: list[tuple[int, str]] = []
    bar = tqdm(items, desc=desc, unit="img", disable=True if n < _PROGRESS_MIN else None)
    for i, item in enumerate(bar):
        img = _decode_one(item, image_size, mode)
        if isinstance(img, str):
            if not skip_unreadable:
                raise DeepclustError(f"cannot decode image {where(i)}: {img}; {_SKIP_HINT}")
            logger.warning("skipping unreadable image %s: %s", where(i), img)
            skipped.append((i, img))
            continue
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if out is None:
            out, mode = np.empty((n, *arr.shape), dtype=np.uint8), img.mode
        elif arr.shape != out.shape[1:]:
            raise DeepclustError(
                f"image {where(i)} has shape (H, W, C) = {arr.shape}, expected {out.shape[1:]} like the "
                "first image (all images must share one size; set image_size to resize)"
            )
        out[len(kept)] = arr
        kept.append(i)
    if out is None:
        first, reason = skipped[0]
        raise DeepclustError(f"all {n} images ({desc}) are unreadable, e.g. {where(first)}: {reason}")
    if skipped:
        logger.warning("skipped %d of %d unreadable images (%s)", len(skipped), n, desc)
        out = out[: len(kept)].copy()  # copy so the unused tail of the buffer is freed
    logger.info("decoded %d images of shape %s", len(out), out.shape[1:])
    return Decoded(out, np.asarray(kept, dtype=np.int64), skipped)

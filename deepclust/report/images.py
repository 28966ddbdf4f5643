"""Pictures for the report as PNG bytes: image strips, and matplotlib figures drawn by `deepclust.metrics.plots`."""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from deepclust.errors import DeepclustError

# Thumbnails are at most this many pixels on a side; the page scales small ones up without smoothing.
THUMBNAIL_SIDE = 96


def check_images(images: np.ndarray, num_samples: int) -> np.ndarray:
    """`images` as uint8 (N, H, W, 1 or 3) with one image per sample, or a one-line DeepclustError."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DeepclustError(f"images must be uint8 with shape (N, H, W, 1 or 3), got {images.dtype} {images.shape}")
    if len(images) != num_samples:
        raise DeepclustError(f"images must hold one image per sample: {len(images)} images for {num_samples} samples")
    return images


def strip_png(images: np.ndarray, gap: int = 2) -> bytes:
    """The images side by side (white gaps), each shrunk to fit `THUMBNAIL_SIDE`, as PNG bytes.

    Args:
        images: uint8 images. Shape: (n, H, W, 1 or 3), n >= 1.
        gap: White pixels between two images.

    Returns:
        The encoded PNG.
    """
    height, width, channels = images.shape[1:]
    scale = min(1.0, THUMBNAIL_SIDE / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    mode = "L" if channels == 1 else "RGB"
    strip = Image.new(mode, (len(images) * (w + gap) - gap, h), 255 if mode == "L" else (255, 255, 255))
    for i, image in enumerate(images):
        tile = Image.fromarray(image[..., 0] if channels == 1 else image, mode)
        if scale < 1.0:
            tile = tile.resize((w, h), Image.Resampling.BILINEAR)
        strip.paste(tile, (i * (w + gap), 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(draw: Callable[[Path], object]) -> bytes:
    """PNG bytes of a figure that `draw(path)` writes to a file (the `deepclust.metrics.plots` helpers)."""
    with tempfile.TemporaryDirectory(prefix="deepclust-report-") as tmp:
        path = Path(tmp) / "figure.png"
        draw(path)
        return path.read_bytes()


def data_uri(png: bytes) -> str:
    """A `data:` URI that embeds PNG bytes in the page itself."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

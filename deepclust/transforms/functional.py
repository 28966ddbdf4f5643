"""Batched image operations on float tensors (B, C, H, W) in [0, 1], on whatever device the input is on.

Every op takes per-sample parameters as tensors of shape (B,) so a whole batch is transformed in one call;
single-channel images pass through the colour-only ops unchanged. Geometric ops live in `_geometric` and
are re-exported here. Semantics follow torchvision's tensor functional ops and PIL's ImageOps/ImageEnhance
(the references of SimCLR and SCAN) unless noted.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from deepclust.transforms._geometric import affine, cutout, pixel_matrix_to_theta, random_resized_crop_theta

__all__ = [
    "adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "affine", "autocontrast",
    "cutout", "equalize", "normalize", "pixel_matrix_to_theta", "posterize", "random_resized_crop_theta",
    "rgb_to_grayscale", "rotate_hue", "sharpness", "solarize", "to_float",
]

_GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# NTSC RGB -> YIQ (Y is the luma above); its inverse is taken in float64 once.
_RGB_TO_YIQ = torch.tensor([_GRAY_WEIGHTS, (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112)],
                           dtype=torch.float64)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def to_float(images: Tensor) -> Tensor:
    """Convert a channels-last uint8 batch to channels-first float32 in [0, 1].

    Args:
        images: Shape: (B, H, W, C) uint8, C in {1, 3}.

    Returns:
        Shape: (B, C, H, W) float32 in [0, 1].
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be a uint8 tensor of shape (B, H, W, C) with C in {{1, 3}}, "
            f"got dtype {images.dtype} and shape {tuple(images.shape)}"
        )
    return images.permute(0, 3, 1, 2).to(torch.float32).contiguous().div_(255.0)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Subtract a per-channel mean and divide by a per-channel std.

    Args:
        x: Shape: (B, C, H, W) float.
        mean: C per-channel means.
        std: C per-channel standard deviations.

    Returns:
        Shape: (B, C, H, W) float, normalised.
    """
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"mean and std must have {x.shape[1]} entries (one per channel), got {mean}, {std}")
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def rgb_to_grayscale(x: Tensor) -> Tensor:
    """Replace every channel by the ITU-R 601-2 luma (PIL's "L"); single-channel input is returned as is.

    Args:
        x: Shape: (B, C, H, W) float, C in {1, 3}.

    Returns:
        Shape: (B, C, H, W) float.
    """
    return x if x.shape[1] == 1 else _luma(x).expand_as(x).contiguous()


def _luma(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(dim=1)
    return (_GRAY_WEIGHTS[0] * r + _GRAY_WEIGHTS[1] * g + _GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    f = _per_sample(factor, x)
    return (f * x + (1.0 - f) * other).clamp_(0.0, 1.0)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """Scale intensities (blend with black), as torchvision and PIL ImageEnhance.Brightness.

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        factor: Shape: (B,). 1 keeps the image, 0 gives black.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    return (x * _per_sample(factor, x)).clamp_(0.0, 1.0)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with its mean grey level, as torchvision and PIL ImageEnhance.Contrast.

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        factor: Shape: (B,). 1 keeps the image, 0 gives a uniform grey.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    mean = _luma(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Blend each image with its grayscale version (no-op for one channel).

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        factor: Shape: (B,). 1 keeps the image, 0 gives grayscale.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    return x if x.shape[1] == 1 else _blend(x, _luma(x), factor)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of each image in HSV space (no-op for one channel), as torchvision.

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        shift: Shape: (B,), in [-0.5, 0.5] of a full turn.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(dim=1)
    # Elementwise max/min of the channel planes: a reduction over dim 1 of NCHW is strided and ~2x slower.
    maxc = torch.maximum(torch.maximum(r, g), b)
    delta = maxc - torch.minimum(torch.minimum(r, g), b)
    # Which channel is the max, as 0/1 weights rather than torch.where: a where on a per-pixel random mask
    # mispredicts a branch per pixel (~10x an add), and v * 1 + w * 0 gives the same floats as the where.
    r_max = (maxc == r).to(x.dtype)
    g_max = (maxc == g).to(x.dtype).mul_(1.0 - r_max)
    other = 1.0 - r_max - g_max
    # Hue in sixths of a turn: the max channel's sector plus one division (not one per sector).
    num = (g - b).mul_(r_max).add_((b - r).mul_(g_max)).add_((r - g).mul_(other))
    sector = g_max * 2.0 + other * 4.0
    hue6 = sector.add_(6.0 * _per_sample(shift, x)[:, 0]).addcdiv_(num, torch.where(delta > 0, delta, 1.0))
    # Standard HSV -> RGB: channel n takes v - (v - min) * clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6.
    out = torch.empty_like(x)
    k, ramp = torch.empty_like(maxc), torch.empty_like(maxc)  # reused: fresh 1 MB buffers cost page faults
    for channel, offset in enumerate((5.0, 3.0, 1.0)):
        torch.remainder(torch.add(hue6, offset, out=k), 6.0, out=k)
        torch.minimum(k, torch.neg(k, out=ramp).add_(4.0), out=ramp).clamp_(0.0, 1.0)
        torch.addcmul(maxc, delta, ramp, value=-1.0, out=out[:, channel])
    return out.clamp_(0.0, 1.0)


def rotate_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Turn the hue of each image about the grey axis: a rotation of the chroma (I, Q) plane of YIQ, as
    NVIDIA DALI's hue; no-op for one channel.

    One 3x3 colour matrix per image, so one pass over the pixels where HSV (`adjust_hue`, torchvision's
    definition) needs about thirty: on a 2-core CPU it was a third of a SimCLR view. The two agree on greys
    (unchanged) and on the direction of the turn (red -> yellow -> green for a positive shift), not pixel for
    pixel: YIQ turns every chroma by the same angle and keeps luma, HSV moves along the hexagon and keeps
    max and min.

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        shift: Shape: (B,), in [-0.5, 0.5] of a full turn.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    if x.shape[1] == 1:
        return x
    # I points to orange and Q to purple: a positive HSV hue turn is a clockwise turn of (I, Q).
    angle = -2.0 * torch.pi * shift.to(device=x.device, dtype=torch.float64)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.zeros(len(angle), 3, 3, dtype=torch.float64, device=x.device)
    rot[:, 0, 0] = 1.0
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = (_YIQ_TO_RGB.to(x.device) @ rot @ _RGB_TO_YIQ.to(x.device)).to(x.dtype).view(-1, 3, 3, 1, 1)
    out = m[:, :, 0] * x[:, 0:1]
    return out.addcmul_(m[:, :, 1], x[:, 1:2]).addcmul_(m[:, :, 2], x[:, 2:3]).clamp_(0.0, 1.0)


def autocontrast(x: Tensor) -> Tensor:
    """Stretch each channel of each image to the full [0, 1] range (PIL ImageOps.autocontrast, cutoff 0).

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].

    Returns:
        Shape: (B, C, H, W) float in [0, 1]; constant channels are left unchanged.
    """
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    scaled = (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, x)


def _to_levels(x: Tensor) -> Tensor:
    return torch.round(x * 255.0).clamp_(0, 255).to(torch.int64)


def equalize(x: Tensor) -> Tensor:
    """Histogram-equalise each channel of each image on 256 levels, with PIL ImageOps.equalize's LUT.

    Args:
        x: Shape: (B, C, H, W) float in [0, 1]; quantised to 256 levels first.

    Returns:
        Shape: (B, C, H, W) float in [0, 1], on the 1/255 grid.
    """
    b, c, h, w = x.shape
    levels = _to_levels(x).reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, dtype=torch.int64, device=x.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels))
    last_count = hist.gather(1, levels.amax(dim=1, keepdim=True))
    step = torch.div(h * w - last_count, 255, rounding_mode="floor")
    below = torch.cumsum(hist, dim=1) - hist
    lut = torch.div(below + step // 2, step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.where(step > 0, lut, torch.arange(256, device=x.device).expand_as(lut))
    return lut.gather(1, levels).view(b, c, h, w).to(x.dtype) / 255.0


def posterize(x: Tensor, bits: Tensor) -> Tensor:
    """Keep the `bits` most significant bits of each 8-bit value (PIL ImageOps.posterize).

    Args:
        x: Shape: (B, C, H, W) float in [0, 1]; quantised to 256 levels first.
        bits: Shape: (B,) integers in [1, 8].

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    keep = 256 - torch.bitwise_left_shift(torch.ones_like(bits, dtype=torch.int64), 8 - bits.to(torch.int64))
    return torch.bitwise_and(_to_levels(x), keep.to(x.device).view(-1, 1, 1, 1)).to(x.dtype) / 255.0


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """Invert every value at or above the image's threshold (PIL ImageOps.solarize).

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        threshold: Shape: (B,) on the [0, 1] scale (PIL's threshold / 255); above 1 leaves the image as is.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    return torch.where(x >= _per_sample(threshold, x), 1.0 - x, x)


def sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with PIL's 3x3 smoothing filter result, border pixels kept (PIL ImageEnhance.Sharpness).

    Args:
        x: Shape: (B, C, H, W) float in [0, 1].
        factor: Shape: (B,). 1 keeps the image, 0 gives the smoothed image, above 1 sharpens.

    Returns:
        Shape: (B, C, H, W) float in [0, 1].
    """
    h, w = x.shape[2:]
    if h < 3 or w < 3:
        return x
    # PIL's SMOOTH kernel is ones(3, 3) with 5 at the centre, / 13: a 3x3 box sum plus 4 x the centre.
    smooth = x.clone()
    smooth[:, :, 1:-1, 1:-1] = (9.0 * F.avg_pool2d(x, 3, stride=1) + 4.0 * x[:, :, 1:-1, 1:-1]) / 13.0
    return _blend(x, smooth, factor)



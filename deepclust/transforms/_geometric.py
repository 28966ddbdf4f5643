"""Batched geometric ops (affine warps, crop boxes, Cutout) on float images (B, C, H, W).

Public through `deepclust.transforms.functional`; coordinates follow `F.affine_grid` with
align_corners=False, so a theta maps output to input positions in [-1, 1] pixel-edge space.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def affine(
    x: Tensor, theta: Tensor, mode: str = "bilinear", fill: float = 0.0, padding_mode: str = "zeros"
) -> Tensor:
    """Warp each image with its own affine map (bilinear or nearest, constant or edge padding).

    Args:
        x: Shape: (B, C, H, W) float.
        theta: Shape: (B, 2, 3). Maps output to input coordinates in `F.affine_grid`'s normalised
            [-1, 1] space (align_corners=False).
        mode: "bilinear" or "nearest".
        fill: Value for pixels that map outside the input, with padding_mode "zeros".
        padding_mode: "zeros" (use `fill`) or "border" (repeat the edge pixels, as crop-then-resize does).

    Returns:
        Shape: (B, C, H, W) float.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    if padding_mode not in ("zeros", "border"):
        raise ValueError(f"padding_mode must be 'zeros' or 'border', got {padding_mode!r}")
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    if fill != 0.0 and padding_mode == "zeros":
        inside = F.grid_sample(torch.ones_like(x[:, :1]), grid, mode=mode, align_corners=False)
        out = out + (1.0 - inside) * fill
    return out


def pixel_matrix_to_theta(matrix: Tensor, height: int, width: int) -> Tensor:
    """Turn PIL-style affine coefficients (output pixel -> input pixel, origin top-left) into a theta.

    Args:
        matrix: Shape: (B, 2, 3), rows (a, b, c) and (d, e, f) as in `PIL.Image.transform(AFFINE)`.
        height: Image height H.
        width: Image width W.

    Returns:
        Shape: (B, 2, 3) theta for `affine`.
    """
    # Normalised u = 2X/W - 1 on continuous pixel coordinates X, so theta = N @ M @ N^-1.
    norm = torch.tensor([[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]],
                        dtype=matrix.dtype, device=matrix.device)
    inv = torch.tensor([[width / 2.0, 0.0, width / 2.0], [0.0, height / 2.0, height / 2.0], [0.0, 0.0, 1.0]],
                       dtype=matrix.dtype, device=matrix.device)
    return (norm[:2] @ torch.cat([matrix, inv[2:].expand(matrix.shape[0], 1, 3)], dim=1) @ inv)


def random_resized_crop_theta(
    batch_size: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
    generator: torch.Generator, device: torch.device | str, attempts: int = 10,
) -> Tensor:
    """Sample torchvision RandomResizedCrop boxes for a batch and return the warps that apply them.

    Args:
        batch_size: Number of boxes B.
        height: Image height H.
        width: Image width W.
        scale: Range of the crop's area as a fraction of the image area.
        ratio: Range of the crop's aspect ratio w / h, sampled log-uniformly.
        generator: Source of randomness, on `device`.
        device: Device of the returned tensor.
        attempts: Tries per image before falling back to a centre crop, as torchvision.

    Returns:
        Shape: (B, 2, 3) theta for `affine`, resizing each box to the full H x W.
    """
    area = float(height * width)
    target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(batch_size, attempts, generator=generator,
                                                                     device=device))
    log_lo, log_hi = torch.log(torch.tensor(ratio, dtype=torch.float64)).tolist()
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(batch_size, attempts, generator=generator,
                                                                device=device))
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(ok.to(torch.uint8), dim=1, keepdim=True)
    w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], ok.any(dim=1)
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = float(width), float(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fw, fh = float(round(height * max(ratio))), float(height)
    else:
        fw, fh = float(width), float(height)
    u = torch.rand(batch_size, 2, generator=generator, device=device)
    top = torch.where(found, torch.floor(u[:, 0] * (height - h + 1)), torch.full_like(h, (height - fh) // 2))
    left = torch.where(found, torch.floor(u[:, 1] * (width - w + 1)), torch.full_like(w, (width - fw) // 2))
    w, h = torch.where(found, w, torch.full_like(w, fw)), torch.where(found, h, torch.full_like(h, fh))
    theta = torch.zeros(batch_size, 2, 3, device=device)
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2.0 * left + w) / width - 1.0
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2.0 * top + h) / height - 1.0
    return theta


def cutout(x: Tensor, size: Tensor, generator: torch.Generator) -> Tensor:
    """Zero one square hole per image, its centre uniform over the pixels and clipped at the borders.

    Args:
        x: Shape: (B, C, H, W) float.
        size: Shape: (B,) integer side lengths >= 1.
        generator: Source of randomness, on x's device. Draws centre rows, then centre columns.

    Returns:
        Shape: (B, C, H, W) float with the holes set to 0.
    """
    b, _, h, w = x.shape
    # SCAN's Cutout spans centre +- size // 2, i.e. 2 * (size // 2) pixels; we keep exactly `size`.
    size = size.to(device=x.device, dtype=torch.int64).view(b, 1)
    cy = torch.randint(0, h, (b, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h) - (cy - size // 2)
    cols = torch.arange(w, device=x.device).view(1, w) - (cx - size // 2)
    in_rows = (rows >= 0) & (rows < size)
    in_cols = (cols >= 0) & (cols < size)
    hole = (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1)
    return x.masked_fill(hole, 0.0)

"""SCAN's "strong" augmentation (RandAugment-like Augment(n) + Cutout), batched on the training device."""

from collections.abc import Sequence

import torch
from torch import Tensor

from deepclust.transforms import functional as TF
from deepclust.transforms._validation import check_images, check_mean_std, check_probability

# (name, low, high) as in SCAN's data/augment.py augment_list(); magnitudes are uniform in [low, high).
SCAN_OPS: tuple[tuple[str, float, float], ...] = (
    ("identity", 0.0, 1.0),
    ("autocontrast", 0.0, 1.0),
    ("equalize", 0.0, 1.0),
    ("rotate", -30.0, 30.0),
    ("solarize", 0.0, 256.0),
    ("color", 0.05, 0.95),
    ("contrast", 0.05, 0.95),
    ("brightness", 0.05, 0.95),
    ("sharpness", 0.05, 0.95),
    ("shear_x", -0.1, 0.1),
    ("translate_x", -0.1, 0.1),
    ("translate_y", -0.1, 0.1),
    ("posterize", 4.0, 8.0),
    ("shear_y", -0.1, 0.1),
)


def _geometric_matrix(name: str, v: Tensor, height: int, width: int) -> Tensor:
    """PIL AFFINE coefficients (output pixel -> input pixel) of one geometric op; v has shape (N,)."""
    m = torch.zeros(v.shape[0], 2, 3, dtype=v.dtype, device=v.device)
    m[:, 0, 0] = 1.0
    m[:, 1, 1] = 1.0
    if name == "rotate":
        # PIL Image.rotate(v): counter-clockwise by v degrees about the image centre.
        a = -torch.deg2rad(v)
        cos, sin = torch.cos(a), torch.sin(a)
        cx, cy = width / 2.0, height / 2.0
        m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = cos, sin, cx - cos * cx - sin * cy
        m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = -sin, cos, cy + sin * cx - cos * cy
    elif name == "shear_x":
        m[:, 0, 1] = v
    elif name == "shear_y":
        m[:, 1, 0] = v
    elif name == "translate_x":
        m[:, 0, 2] = v * width
    elif name == "translate_y":
        m[:, 1, 2] = v * height
    return m


def _apply_op(name: str, x: Tensor, v: Tensor) -> Tensor:
    """Apply op `name` with per-image magnitudes v (N,) to x (N, C, H, W) in [0, 1]."""
    if name == "identity":
        return x
    if name == "autocontrast":
        return TF.autocontrast(x)
    if name == "equalize":
        return TF.equalize(x)
    if name == "solarize":
        return TF.solarize(x, v / 255.0)
    if name == "color":
        return TF.adjust_saturation(x, v)
    if name == "contrast":
        return TF.adjust_contrast(x, v)
    if name == "brightness":
        return TF.adjust_brightness(x, v)
    if name == "sharpness":
        return TF.sharpness(x, v)
    if name == "posterize":
        return TF.posterize(x, torch.floor(v).clamp(min=1).to(torch.int64))
    h, w = x.shape[-2:]
    theta = TF.pixel_matrix_to_theta(_geometric_matrix(name, v, h, w), h, w)
    # PIL's transform/rotate default to NEAREST resampling with a black fill.
    return TF.affine(x, theta, mode="nearest", fill=0.0)


class SCANStrongTransform:
    """SCAN's strong augmentation (SCAN, arXiv 2005.12320; its repo's data/augment.py Augment and Cutout).

    Horizontal flip, then `num_ops` ops drawn with replacement per image from `SCAN_OPS` (each with a
    uniform magnitude in its range, shears and translations with a random sign), then normalisation, then
    one Cutout hole zeroed after normalising (i.e. filled with the mean colour). SCAN's RandomCrop to the
    full image size is the identity and is left out.

    Args:
        mean: Per-channel means, 1 or 3 entries.
        std: Per-channel standard deviations, like `mean`.
        hflip_prob: Probability of a horizontal flip.
        num_ops: Number of ops applied to every image, >= 0.
        cutout_max: Cutout side drawn uniformly from the integers [1, cutout_max]; 0 disables Cutout.
        dense: Apply every op to the whole batch and keep it where it was drawn (no host sync per op: what a GPU
            wants), or only to the images that drew it (13x less arithmetic: what a CPU wants). Both give the
            same images from the same draws. None: dense on a GPU.
    """

    def __init__(
        self,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        hflip_prob: float = 0.5,
        num_ops: int = 4,
        cutout_max: int = 16,
        dense: bool | None = None,
    ) -> None:
        self.mean, self.std = check_mean_std(mean, std)
        self.hflip_prob = check_probability("hflip_prob", hflip_prob)
        for name, value in (("num_ops", num_ops), ("cutout_max", cutout_max)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.num_ops, self.cutout_max, self.dense = num_ops, cutout_max, dense

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Draw one strongly augmented view of every image.

        Args:
            images: Shape: (B, H, W, C) uint8, C = len(mean).
            generator: Source of all randomness, on the images' device.

        Returns:
            Shape: (B, C, H, W) float32, normalised, with one Cutout hole per image set to 0.
        """
        check_images(images, self.mean)
        b, device = images.shape[0], images.device
        dense = images.is_cuda if self.dense is None else self.dense
        x = TF.to_float(images)
        flip = torch.rand(b, generator=generator, device=device) < self.hflip_prob
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)

        for _ in range(self.num_ops):
            op_ids = torch.randint(0, len(SCAN_OPS), (b,), generator=generator, device=device)
            u = torch.rand(b, generator=generator, device=device)
            sign = torch.where(torch.rand(b, generator=generator, device=device) < 0.5, -1.0, 1.0)
            for op_id, (name, low, high) in enumerate(SCAN_OPS):
                if name == "identity":
                    continue
                v = low + (high - low) * u
                if name.startswith(("shear", "translate")):
                    v = v * sign
                mask = op_ids == op_id
                if dense:
                    x = torch.where(mask.view(-1, 1, 1, 1), _apply_op(name, x, v), x)
                elif bool(mask.any()):
                    x[mask] = _apply_op(name, x[mask], v[mask])

        x = TF.normalize(x, self.mean, self.std)
        if self.cutout_max > 0:
            size = torch.randint(1, self.cutout_max + 1, (b,), generator=generator, device=device)
            x = TF.cutout(x, size, generator)
        return x


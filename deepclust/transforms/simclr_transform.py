"""SimCLR's random view augmentation, batched on the training device."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from deepclust.transforms import functional as TF
from deepclust.transforms._validation import check_images, check_mean_std, check_probability, check_range

# "hsv": torchvision's definition (the reference's), ~30 passes over the pixels; "yiq": one colour matrix per
# image (DALI's hue), opt-in: ~1.6x the whole transform on a 2-core CPU, lower CIFAR-10 ACC in docs/speed.md.
_HUE_OPS = {"yiq": TF.rotate_hue, "hsv": TF.adjust_hue}


class _SimCLRAugment:
    """Shared arguments and view sampling of the SimCLR transforms; see `SimCLRViewTransform`."""

    def __init__(
        self,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        crop_scale: tuple[float, float] = (0.2, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hflip_prob: float = 0.5,
        jitter_prob: float = 0.8,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        grayscale_prob: float = 0.2,
        rotation: float = 0.0,
        hue_space: str = "hsv",
    ) -> None:
        self.mean, self.std = check_mean_std(mean, std)
        self.crop_scale = check_range("crop_scale", crop_scale, 0.0, 1.0, open_low=True)
        self.crop_ratio = check_range("crop_ratio", crop_ratio, 0.0, float("inf"), open_low=True)
        self.hflip_prob = check_probability("hflip_prob", hflip_prob)
        self.jitter_prob = check_probability("jitter_prob", jitter_prob)
        self.grayscale_prob = check_probability("grayscale_prob", grayscale_prob)
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if not 0.0 <= float(value) < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not 0.0 <= float(hue) <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        if not 0.0 <= float(rotation) <= 180.0:
            raise ValueError(f"rotation must be in [0, 180] degrees, got {rotation}")
        if hue_space not in _HUE_OPS:
            raise ValueError(f"hue_space must be one of {sorted(_HUE_OPS)}, got {hue_space!r}")
        self.rotation, self.hue_space = float(rotation), hue_space
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)

    def _to_float(self, images: Tensor) -> Tensor:
        check_images(images, self.mean)
        return TF.to_float(images)

    def _view(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Draw one augmented view of every image.

        Args:
            x: Shape: (B, C, H, W) float32 in [0, 1], from `_to_float`; not modified.
            generator: Source of all randomness, on the images' device.

        Returns:
            Shape: (B, C, H, W) float32, normalised.
        """
        b, _, h, w = x.shape
        device = x.device

        theta = TF.random_resized_crop_theta(b, h, w, self.crop_scale, self.crop_ratio, generator, device)
        flip = torch.rand(b, generator=generator, device=device) < self.hflip_prob
        theta[:, 0, 0] = torch.where(flip, -theta[:, 0, 0], theta[:, 0, 0])
        if self.rotation > 0:  # IIC's MNIST views: a random rotation of the crop (drawn only when asked for)
            angle = (2 * torch.rand(b, generator=generator, device=device) - 1) * math.radians(self.rotation)
            cos, sin = angle.cos(), angle.sin()
            rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (B, 2, 2)
            theta[:, :, :2] = theta[:, :, :2] @ rot
        # Border padding stands in for resize's edge clamping; inside the image the bilinear taps at a crop
        # edge reach half a pixel beyond the box, where torchvision's crop-then-resize clamps to the box.
        x = TF.affine(x, theta, mode="bilinear", padding_mode="border").clamp_(0.0, 1.0)

        # torchvision's ColorJitter applies the four adjustments in a random order; we keep a fixed one.
        u = torch.rand(b, 5, generator=generator, device=device)
        jitter = u[:, 4] < self.jitter_prob
        jittered = x
        for i, (amount, op) in enumerate((
            (self.brightness, TF.adjust_brightness),
            (self.contrast, TF.adjust_contrast),
            (self.saturation, TF.adjust_saturation),
        )):
            if amount > 0:
                low = max(0.0, 1.0 - amount)
                jittered = op(jittered, low + (1.0 + amount - low) * u[:, i])
        if self.hue > 0:
            jittered = _HUE_OPS[self.hue_space](jittered, self.hue * (2.0 * u[:, 3] - 1.0))
        x = torch.where(jitter.view(-1, 1, 1, 1), jittered, x)

        gray = torch.rand(b, generator=generator, device=device) < self.grayscale_prob
        if x.shape[1] > 1:  # only the chosen fifth: the luma of every image would be thrown away
            chosen = gray.nonzero()[:, 0]
            x[chosen] = TF.rgb_to_grayscale(x[chosen])
        return TF.normalize(x, self.mean, self.std)


class SimCLRViewTransform(_SimCLRAugment):
    """One random SimCLR view per image (SimCLR, arXiv 2002.05709; settings as SCAN's simclr config).

    RandomResizedCrop + horizontal flip (one bilinear warp), colour jitter with probability `jitter_prob`,
    random grayscale, then per-channel normalisation.

    Args:
        mean: Per-channel means, 1 or 3 entries.
        std: Per-channel standard deviations, like `mean`.
        crop_scale: Range of the crop area as a fraction of the image area, within (0, 1].
        crop_ratio: Range of the crop aspect ratio w / h, sampled log-uniformly, positive.
        hflip_prob: Probability of a horizontal flip.
        jitter_prob: Probability of applying colour jitter to an image.
        brightness: Brightness factor drawn from [max(0, 1 - brightness), 1 + brightness].
        contrast: Contrast factor drawn like brightness.
        saturation: Saturation factor drawn like brightness.
        hue: Hue shift drawn from [-hue, hue], hue in [0, 0.5].
        grayscale_prob: Probability of converting an image to grayscale.
        rotation: Maximum rotation in degrees, drawn uniformly in [-rotation, rotation] (IIC MNIST: 25); 0: none.
        hue_space: "hsv" (default): torchvision's HSV hue (`TF.adjust_hue`), as the reference; "yiq": the
            shift turns the chroma plane of YIQ (`TF.rotate_hue`), one pass instead of ~30.
    """

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Draw one augmented view of every image.

        Args:
            images: Shape: (B, H, W, C) uint8, C = len(mean).
            generator: Source of all randomness, on the images' device.

        Returns:
            Shape: (B, C, H, W) float32, normalised.
        """
        return self._view(self._to_float(images), generator)


class SimCLRTransform(_SimCLRAugment):
    """Two independent SimCLR views of every image (SimCLR, arXiv 2002.05709).

    Args:
        **kwargs: The keyword arguments of `SimCLRViewTransform` (mean and std required).
    """

    def __call__(self, images: Tensor, generator: torch.Generator) -> list[Tensor]:
        """Draw two views of every image, one after the other from `generator`.

        Args:
            images: Shape: (B, H, W, C) uint8, C = len(mean).
            generator: Source of all randomness, on the images' device.

        Returns:
            Two tensors of shape (B, C, H, W) float32, normalised.
        """
        x = self._to_float(images)
        return [self._view(x, generator), self._view(x, generator)]

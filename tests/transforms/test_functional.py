"""Tests of the batched functional image ops against identities, PIL and torchvision."""

import numpy as np
import PIL.Image
import PIL.ImageEnhance
import PIL.ImageOps
import pytest
import torch

from deepclust.transforms import functional as TF


def _images(b: int = 4, h: int = 13, w: int = 17, c: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, h, w, c), dtype=torch.uint8, generator=g)


def _pil_apply(images: torch.Tensor, fn) -> torch.Tensor:
    outs = [np.array(fn(i, PIL.Image.fromarray(img.numpy()))) for i, img in enumerate(images)]
    return TF.to_float(torch.from_numpy(np.stack(outs)))


def test_to_float_layout_and_range() -> None:
    images = _images()
    x = TF.to_float(images)
    assert x.shape == (4, 3, 13, 17) and x.dtype == torch.float32 and x.is_contiguous()
    assert torch.equal(x[1, 2, 3, 4], images[1, 3, 4, 2].float() / 255)
    with pytest.raises(ValueError, match="uint8"):
        TF.to_float(images.float())
    with pytest.raises(ValueError, match="uint8"):
        TF.to_float(torch.zeros(1, 8, 8, 2, dtype=torch.uint8))


def test_normalize() -> None:
    x = TF.to_float(_images())
    assert torch.equal(TF.normalize(x, [0, 0, 0], [1, 1, 1]), x)
    y = TF.normalize(x, [0.5, 0.4, 0.3], [0.2, 0.25, 0.5])
    assert torch.allclose(y[:, 1], (x[:, 1] - 0.4) / 0.25)
    with pytest.raises(ValueError, match="mean"):
        TF.normalize(x, [0.5], [0.2])


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_affine_identity_and_fill(mode: str) -> None:
    x = TF.to_float(_images())
    eye = torch.eye(2, 3).expand(4, 2, 3)
    assert torch.allclose(TF.affine(x, eye, mode=mode), x, atol=1e-6)
    far = eye.clone()
    far[:, :, 2] = 5.0
    assert torch.allclose(TF.affine(x, far, mode=mode, fill=0.25), torch.full_like(x, 0.25))
    with pytest.raises(ValueError, match="mode"):
        TF.affine(x, eye, mode="bicubic")


def test_pixel_matrix_to_theta_identity() -> None:
    assert torch.allclose(TF.pixel_matrix_to_theta(torch.eye(2, 3).expand(3, 2, 3), 13, 17), torch.eye(2, 3))


def test_random_resized_crop_theta() -> None:
    g = torch.Generator().manual_seed(0)
    full = TF.random_resized_crop_theta(3, 16, 16, (1.0, 1.0), (1.0, 1.0), g, "cpu")
    assert torch.allclose(full, torch.eye(2, 3).expand(3, 2, 3))
    theta = TF.random_resized_crop_theta(2000, 32, 24, (0.2, 1.0), (3 / 4, 4 / 3), g, "cpu")
    w, h = theta[:, 0, 0] * 24, theta[:, 1, 1] * 32
    left = (theta[:, 0, 2] + 1) * 12 - w / 2
    top = (theta[:, 1, 2] + 1) * 16 - h / 2
    assert torch.allclose(w, w.round(), atol=1e-4) and torch.allclose(left, left.round(), atol=1e-4)
    assert (left >= -1e-4).all() and (left + w <= 24 + 1e-4).all()
    assert (top >= -1e-4).all() and (top + h <= 32 + 1e-4).all()
    assert (w * h >= 0.15 * 32 * 24).all()
    def draw(seed: int) -> torch.Tensor:
        return TF.random_resized_crop_theta(8, 32, 24, (0.2, 1.0), (3 / 4, 4 / 3),
                                            torch.Generator().manual_seed(seed), "cpu")

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    # An impossible aspect ratio falls back to a centre crop, as torchvision.
    fallback = TF.random_resized_crop_theta(2, 32, 32, (1.0, 1.0), (2.0, 3.0), g, "cpu")
    assert torch.allclose(fallback[:, 1, 1], torch.tensor(0.5))
    assert torch.allclose(fallback[:, :, 2], torch.zeros(1))


def test_colour_ops_identities() -> None:
    x = TF.to_float(_images())
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert torch.equal(TF.adjust_brightness(x, ones), x)
    assert torch.allclose(TF.adjust_contrast(x, ones), x)
    assert torch.allclose(TF.adjust_saturation(x, ones), x)
    assert torch.allclose(TF.adjust_hue(x, zeros), x, atol=1e-5)
    assert torch.allclose(TF.rotate_hue(x, zeros), x, atol=1e-5)
    assert torch.allclose(TF.adjust_saturation(x, zeros), TF.rgb_to_grayscale(x), atol=1e-6)
    gray = TF.rgb_to_grayscale(x)
    assert gray.shape == x.shape and torch.equal(gray[:, 0], gray[:, 2])
    assert torch.equal(TF.adjust_brightness(x, zeros), torch.zeros_like(x))


def test_colour_ops_are_noops_on_one_channel() -> None:
    x = TF.to_float(_images(c=1))
    f = torch.linspace(0.1, 1.9, 4)
    assert torch.equal(TF.adjust_saturation(x, f), x)
    assert torch.equal(TF.adjust_hue(x, f - 1.0), x)
    assert torch.equal(TF.rotate_hue(x, f - 1.0), x)
    assert torch.equal(TF.rgb_to_grayscale(x), x)
    assert torch.allclose(TF.adjust_contrast(x, torch.ones(4)), x)


def test_hue_known_answers() -> None:
    # Pure red turned by 1/3 is green, by 1/6 yellow, by -1/3 blue; greys have no hue.
    x = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.4, 0.4, 0.4]]).view(4, 3, 1, 1)
    out = TF.adjust_hue(x, torch.tensor([1 / 3, 1 / 6, -1 / 3, 0.25])).view(4, 3)
    expected = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.4, 0.4, 0.4]])
    assert torch.allclose(out, expected, atol=1e-5)
    # A half turn maps each colour to its complement within the same min/max.
    y = TF.to_float(_images())
    back = TF.adjust_hue(TF.adjust_hue(y, torch.full((4,), 0.5)), torch.full((4,), -0.5))
    assert torch.allclose(back, y, atol=1e-5)


def test_hue_matches_torchvision() -> None:
    import torchvision.transforms.functional as F

    x = TF.to_float(_images(b=6))
    x[0] = 0.0  # black: no value, no saturation
    x[1, :, :4] = 0.5  # greys: no hue
    shifts = torch.tensor([0.3, -0.5, -0.21, 0.0, 0.13, 0.5])
    x[2, :, 0] = x[2, 0:1, 0]  # ties: r == g == b on one row
    x[3, 1] = x[3, 0]  # ties: r == g everywhere, the branch-free sector choice must prefer red
    x[4, 2, :3] = x[4, 1, :3]  # ties: g == b
    expected = torch.stack([F.adjust_hue(img, float(s)) for img, s in zip(x, shifts, strict=True)])
    assert torch.allclose(TF.adjust_hue(x, shifts), expected, atol=1e-5)


def _yiq_reference(x: torch.Tensor, shift: float) -> torch.Tensor:
    # Per pixel in float64: RGB -> YIQ, turn (I, Q) by -2 pi shift, back, clip.
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.5959, -0.2746, -0.3213], [0.2115, -0.5227, 0.3112]],
                          dtype=torch.float64)
    y, i, q = torch.einsum("ij,jhw->ihw", to_yiq, x.double())
    a = torch.tensor(-2 * np.pi * shift, dtype=torch.float64)
    turned = torch.stack([y, i * a.cos() - q * a.sin(), i * a.sin() + q * a.cos()])
    return torch.einsum("ij,jhw->ihw", torch.linalg.inv(to_yiq), turned).clamp(0, 1).float()


def test_rotate_hue_is_a_yiq_chroma_turn() -> None:
    x = TF.to_float(_images(b=5))
    shifts = torch.tensor([0.1, -0.1, 0.5, -0.37, 0.0])
    expected = torch.stack([_yiq_reference(img, float(s)) for img, s in zip(x, shifts, strict=True)])
    assert torch.allclose(TF.rotate_hue(x, shifts), expected, atol=1e-5)


def test_rotate_hue_keeps_greys_and_luma_and_turns_like_hsv() -> None:
    # Mid-saturation colours stay inside the cube, so nothing is clipped.
    x = 0.35 + 0.3 * TF.to_float(_images(b=4))
    x[0, :, :3] = 0.6  # greys
    shifts = torch.tensor([0.2, -0.15, 0.45, 0.05])
    out = TF.rotate_hue(x, shifts)
    assert torch.allclose(out[0, :, :3], x[0, :, :3], atol=1e-6)
    luma = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    assert torch.allclose(luma(out), luma(x), atol=1e-5)
    # Turns compose and undo.
    twice = TF.rotate_hue(TF.rotate_hue(x, shifts / 2), shifts / 2)
    assert torch.allclose(twice, out, atol=1e-5)
    assert torch.allclose(TF.rotate_hue(out, -shifts), x, atol=1e-5)
    # The same direction as HSV: red turned by +1/6 leans to yellow (green above blue), by -1/6 to magenta,
    # by 1/3 to green.
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(3, 3, 1, 1)
    r = TF.rotate_hue(red, torch.tensor([1 / 6, -1 / 6, 1 / 3])).view(3, 3)
    assert r[0, 1] > r[0, 2] + 0.3 and r[1, 2] > r[1, 1] + 0.3 and r[2, 1] == r[2].max()


def test_contrast_and_saturation_blend() -> None:
    x = TF.to_float(_images())
    gray = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    mean = gray.mean(dim=(1, 2)).view(4, 1, 1, 1)
    f = torch.tensor([0.05, 0.6, 1.4, 1.9])
    fv = f.view(4, 1, 1, 1)
    assert torch.allclose(TF.adjust_contrast(x, f), (fv * x + (1 - fv) * mean).clamp(0, 1), atol=1e-6)
    desaturated = (fv * x + (1 - fv) * gray[:, None]).clamp(0, 1)
    assert torch.allclose(TF.adjust_saturation(x, f), desaturated, atol=1e-6)
    ref = _pil_apply(_images(), lambda i, im: PIL.ImageEnhance.Color(im).enhance(float(f[i % 2])))
    assert torch.allclose(TF.adjust_saturation(x, f[:2].repeat(2)), ref, atol=2.01 / 255)


def test_posterize_solarize() -> None:
    x = TF.to_float(_images())
    assert torch.allclose(TF.posterize(x, torch.full((4,), 8)), x)
    assert torch.allclose(TF.solarize(x, torch.full((4,), 256 / 255)), x)
    assert torch.allclose(TF.solarize(x, torch.zeros(4)), 1 - x)
    images = _images()
    bits, thr = [1, 4, 6, 7], [0, 64, 128, 200]
    assert torch.allclose(TF.posterize(x, torch.tensor(bits)),
                          _pil_apply(images, lambda i, im: PIL.ImageOps.posterize(im, bits[i])))
    assert torch.allclose(TF.solarize(x, torch.tensor(thr) / 255),
                          _pil_apply(images, lambda i, im: PIL.ImageOps.solarize(im, thr[i])))


def test_equalize_and_autocontrast() -> None:
    ramp = torch.arange(256, dtype=torch.uint8).view(1, 16, 16, 1).repeat(2, 1, 1, 3)
    x = TF.to_float(ramp)
    assert torch.allclose(TF.equalize(x), x)
    images = _images(c=3)
    y = TF.to_float(images)
    assert torch.allclose(TF.equalize(y), _pil_apply(images, lambda i, im: PIL.ImageOps.equalize(im)))
    assert torch.allclose(TF.autocontrast(y), _pil_apply(images, lambda i, im: PIL.ImageOps.autocontrast(im)),
                          atol=1.01 / 255)
    constant = torch.full((2, 1, 8, 8), 0.3)
    assert torch.equal(TF.equalize(constant), TF.posterize(constant, torch.full((2,), 8)))
    assert torch.equal(TF.autocontrast(constant), constant)


def test_sharpness() -> None:
    images = _images()
    x = TF.to_float(images)
    assert torch.allclose(TF.sharpness(x, torch.ones(4)), x)
    f = [0.05, 0.5, 0.95, 1.5]
    ref = _pil_apply(images, lambda i, im: PIL.ImageEnhance.Sharpness(im).enhance(f[i]))
    assert torch.allclose(TF.sharpness(x, torch.tensor(f)), ref, atol=2.01 / 255)
    smooth = TF.sharpness(x, torch.zeros(4))
    assert torch.equal(smooth[..., 0, :], x[..., 0, :]) and torch.equal(smooth[..., :, -1], x[..., :, -1])


@pytest.mark.parametrize("size", [1, 4, 5, 30])
def test_cutout_zeroes_one_clipped_square(size: int) -> None:
    x = torch.ones(64, 2, 8, 11)
    out = TF.cutout(x, torch.full((64,), size), torch.Generator().manual_seed(size))
    assert torch.equal(out[:, 0], out[:, 1])
    for hole in out[:, 0] == 0:
        rows, cols = hole.any(dim=1), hole.any(dim=0)
        assert torch.equal(hole, rows[:, None] & cols[None, :])  # a single rectangle
        for line, n in ((rows, 8), (cols, 11)):
            idx = line.nonzero()[:, 0]
            assert idx.numel() >= 1 and idx.numel() == idx[-1] - idx[0] + 1
            assert idx.numel() == size or (idx.numel() < size and (idx[0] == 0 or idx[-1] == n - 1))
    again = TF.cutout(x, torch.full((64,), size), torch.Generator().manual_seed(size))
    assert torch.equal(out, again)

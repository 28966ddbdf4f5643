"""Tests of the batched SimCLR view transforms."""

import pytest
import torch

from deepclust.transforms import SimCLRTransform, SimCLRViewTransform
from deepclust.transforms import functional as TF


def _images(b: int, size: int, c: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, size, size, c), dtype=torch.uint8, generator=g)


def _transform(c: int, **kwargs) -> SimCLRTransform:
    return SimCLRTransform(mean=[0.0] * c, std=[1.0] * c, **kwargs)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("b", [1, 5])
def test_views_shape_dtype_range(b: int, size: int, c: int) -> None:
    views = _transform(c)(_images(b, size, c), torch.Generator().manual_seed(0))
    assert isinstance(views, list) and len(views) == 2
    for v in views:
        assert v.shape == (b, c, size, size) and v.dtype == torch.float32
        assert torch.isfinite(v).all() and v.min() >= 0.0 and v.max() <= 1.0


def test_normalisation_applied() -> None:
    images = _images(5, 16, 3)
    raw = _transform(3)(images, torch.Generator().manual_seed(3))
    t = SimCLRTransform(mean=[0.5, 0.4, 0.3], std=[0.2, 0.3, 0.4])
    normed = t(images, torch.Generator().manual_seed(3))
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    assert torch.allclose(normed[0], (raw[0] - mean) / std, atol=1e-5)


def test_seeded_determinism_and_independent_views() -> None:
    images, t = _images(5, 32, 3), _transform(3)
    a = t(images, torch.Generator().manual_seed(7))
    b = t(images, torch.Generator().manual_seed(7))
    c = t(images, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])
    single = SimCLRViewTransform(mean=[0.0] * 3, std=[1.0] * 3)(images, torch.Generator().manual_seed(7))
    assert torch.equal(single, a[0])


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_flip_only(c: int, flip: float) -> None:
    images = _images(5, 8, c)
    t = SimCLRViewTransform(mean=[0.0] * c, std=[1.0] * c, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0),
                            hflip_prob=flip, jitter_prob=0.0, grayscale_prob=0.0)
    expected = TF.to_float(images)
    if flip:
        expected = expected.flip(-1)
    assert torch.allclose(t(images, torch.Generator().manual_seed(0)), expected, atol=1e-5)


def test_grayscale_always() -> None:
    t = SimCLRViewTransform(mean=[0.0] * 3, std=[1.0] * 3, grayscale_prob=1.0)
    out = t(_images(5, 16, 3), torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])


def test_jitter_changes_colours_but_not_geometry() -> None:
    images = _images(5, 8, 3)
    kwargs = dict(mean=[0.0] * 3, std=[1.0] * 3, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0),
                  hflip_prob=0.0, grayscale_prob=0.0)
    out = SimCLRViewTransform(jitter_prob=1.0, **kwargs)(images, torch.Generator().manual_seed(0))
    assert not torch.allclose(out, TF.to_float(images), atol=1e-3)
    none = SimCLRViewTransform(jitter_prob=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0,
                               **kwargs)
    assert torch.allclose(none(images, torch.Generator().manual_seed(0)), TF.to_float(images), atol=1e-5)


@pytest.mark.parametrize("c", [1, 3])
def test_hue_space_changes_only_the_hue(c: int) -> None:
    images = _images(6, 16, c)
    views = {space: _transform(c, hue_space=space, jitter_prob=1.0)(images, torch.Generator().manual_seed(2))
             for space in ("yiq", "hsv")}
    # The same random draws either way: without a hue turn (or with one channel) the views are equal.
    no_hue = {space: _transform(c, hue_space=space, hue=0.0)(images, torch.Generator().manual_seed(2))
              for space in ("yiq", "hsv")}
    assert all(torch.equal(a, b) for a, b in zip(no_hue["yiq"], no_hue["hsv"], strict=True))
    same = all(torch.equal(a, b) for a, b in zip(views["yiq"], views["hsv"], strict=True))
    assert same == (c == 1)


def test_grayscale_only_on_the_chosen_images() -> None:
    images = _images(64, 8, 3)
    t = SimCLRViewTransform(mean=[0.0] * 3, std=[1.0] * 3, jitter_prob=0.0, grayscale_prob=0.5)
    out = t(images, torch.Generator().manual_seed(4))
    grey = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert 10 < int(grey.sum()) < 54  # about half, and the others keep their colours
    kept = SimCLRViewTransform(mean=[0.0] * 3, std=[1.0] * 3, jitter_prob=0.0, grayscale_prob=0.0)
    colour = kept(images, torch.Generator().manual_seed(4))
    assert torch.equal(out[~grey], colour[~grey])
    assert torch.allclose(out[grey], TF.rgb_to_grayscale(colour[grey]), atol=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    ({"crop_scale": (0.0, 1.0)}, "crop_scale"),
    ({"crop_scale": (0.8, 0.2)}, "crop_scale"),
    ({"crop_scale": (0.2, 1.5)}, "crop_scale"),
    ({"crop_ratio": (-1.0, 1.0)}, "crop_ratio"),
    ({"crop_ratio": (1.0,)}, "crop_ratio"),
    ({"hflip_prob": 1.5}, "hflip_prob"),
    ({"jitter_prob": -0.1}, "jitter_prob"),
    ({"grayscale_prob": 2.0}, "grayscale_prob"),
    ({"brightness": -0.1}, "brightness"),
    ({"saturation": float("nan")}, "saturation"),
    ({"hue": 0.6}, "hue"),
    ({"hue_space": "hsl"}, "hue_space"),
    ({"std": [1.0, 0.0, 1.0]}, "std"),
    ({"mean": [0.0, 0.0]}, "mean"),
])
def test_invalid_arguments(kwargs: dict, name: str) -> None:
    args = {"mean": [0.0] * 3, "std": [1.0] * 3, **kwargs}
    if name == "mean":
        args["std"] = [1.0, 1.0]
    with pytest.raises(ValueError, match=name):
        SimCLRTransform(**args)


def test_invalid_images() -> None:
    t = _transform(3)
    with pytest.raises(ValueError, match="channels"):
        t(_images(2, 8, 1), torch.Generator())
    with pytest.raises(ValueError, match="uint8"):
        t(_images(2, 8, 3).float(), torch.Generator())

"""Tests of SCAN's batched strong augmentation."""

import numpy as np
import PIL.Image
import pytest
import torch

from deepclust.transforms import SCANStrongTransform
from deepclust.transforms import functional as TF
from deepclust.transforms.scan_transform import SCAN_OPS, _apply_op


def _images(b: int, size: int, c: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, size, size, c), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("b", [1, 5])
def test_shape_dtype_range(b: int, size: int, c: int) -> None:
    t = SCANStrongTransform(mean=[0.0] * c, std=[1.0] * c)
    out = t(_images(b, size, c), torch.Generator().manual_seed(0))
    assert out.shape == (b, c, size, size) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", [name for name, _, _ in SCAN_OPS])
@pytest.mark.parametrize("c", [1, 3])
def test_every_op_keeps_shape_and_range(name: str, c: int) -> None:
    x = TF.to_float(_images(6, 8, c))
    low, high = next((lo, hi) for n, lo, hi in SCAN_OPS if n == name)
    out = _apply_op(name, x, torch.linspace(low, high, 6))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name, coeffs", [
    ("shear_x", lambda v, w, h: (1, v, 0, 0, 1, 0)),
    ("shear_y", lambda v, w, h: (1, 0, 0, v, 1, 0)),
    ("translate_x", lambda v, w, h: (1, 0, v * w, 0, 1, 0)),
    ("translate_y", lambda v, w, h: (1, 0, 0, 0, 1, v * h)),
])
def test_geometric_ops_match_pil(name: str, coeffs) -> None:
    images = _images(4, 16, 3)[:, :, :13]  # non-square: H=16, W=13
    v = [-0.1, -0.03, 0.05, 0.1]
    pils = [PIL.Image.fromarray(im.numpy()) for im in images]
    ref = [np.array(im.transform((13, 16), PIL.Image.AFFINE, coeffs(vi, 13, 16)))
           for vi, im in zip(v, pils, strict=True)]
    out = _apply_op(name, TF.to_float(images.contiguous()), torch.tensor(v))
    assert torch.allclose(out, TF.to_float(torch.from_numpy(np.stack(ref))))


def test_rotate_mostly_matches_pil() -> None:
    images = _images(4, 16, 3)
    angles = [-30.0, -10.0, 12.5, 30.0]
    ref = [np.array(PIL.Image.fromarray(im.numpy()).rotate(angles[i])) for i, im in enumerate(images)]
    out = _apply_op("rotate", TF.to_float(images), torch.tensor(angles))
    same = (out - TF.to_float(torch.from_numpy(np.stack(ref)))).abs() < 1e-6
    assert same.float().mean() > 0.95  # nearest-neighbour ties may round the other way


def test_seeded_determinism() -> None:
    images, t = _images(5, 32, 3), SCANStrongTransform(mean=[0.5] * 3, std=[0.25] * 3)
    a = t(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, t(images, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, t(images, torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("c", [1, 3])
def test_flip_only(c: int) -> None:
    images = _images(5, 8, c)
    t = SCANStrongTransform(mean=[0.0] * c, std=[1.0] * c, hflip_prob=1.0, num_ops=0, cutout_max=0)
    assert torch.equal(t(images, torch.Generator().manual_seed(0)), TF.to_float(images).flip(-1))
    t = SCANStrongTransform(mean=[0.0] * c, std=[1.0] * c, hflip_prob=0.0, num_ops=0, cutout_max=0)
    assert torch.equal(t(images, torch.Generator().manual_seed(0)), TF.to_float(images))


def test_cutout_sets_mean_colour_in_one_square() -> None:
    images = torch.full((32, 28, 28, 3), 255, dtype=torch.uint8)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]
    t = SCANStrongTransform(mean=mean, std=std, hflip_prob=0.0, num_ops=0, cutout_max=10)
    out = t(images, torch.Generator().manual_seed(0))
    filled = TF.normalize(torch.ones(1, 3, 1, 1), mean, std)
    for img in out:
        hole = img[0] == 0
        assert torch.equal(hole, img[2] == 0)
        rows, cols = hole.any(dim=1), hole.any(dim=0)
        assert torch.equal(hole, rows[:, None] & cols[None, :])
        assert 1 <= int(rows.sum()) <= 10 and 1 <= int(cols.sum()) <= 10
        assert torch.allclose(img[:, ~hole], filled.view(3, 1).expand(3, int((~hole).sum())))


@pytest.mark.parametrize("kwargs, name", [
    ({"hflip_prob": -0.5}, "hflip_prob"),
    ({"num_ops": -1}, "num_ops"),
    ({"num_ops": 2.0}, "num_ops"),
    ({"cutout_max": -3}, "cutout_max"),
    ({"cutout_max": True}, "cutout_max"),
    ({"std": [1.0, -1.0, 1.0]}, "std"),
])
def test_invalid_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        SCANStrongTransform(**{"mean": [0.0] * 3, "std": [1.0] * 3, **kwargs})


def test_invalid_images() -> None:
    with pytest.raises(ValueError, match="channels"):
        SCANStrongTransform(mean=[0.0], std=[1.0])(_images(2, 8, 3), torch.Generator())


@pytest.mark.parametrize("c", [1, 3])
def test_dense_ops_give_the_images_of_per_subset_ops(c: int) -> None:
    # the GPU path (every op on the whole batch, kept where drawn) run on the CPU against the CPU path
    images = _images(64, 16, c, seed=3)
    kwargs = {"mean": [0.5] * c, "std": [0.25] * c, "num_ops": 4, "cutout_max": 8}
    subsets = SCANStrongTransform(**kwargs, dense=False)(images, torch.Generator().manual_seed(7))
    dense = SCANStrongTransform(**kwargs, dense=True)(images, torch.Generator().manual_seed(7))
    assert torch.allclose(dense, subsets, atol=1e-5)
    other = SCANStrongTransform(**kwargs, dense=True)(images, torch.Generator().manual_seed(8))
    assert not torch.allclose(dense, other, atol=1e-3)  # the comparison can fail: other draws, other images

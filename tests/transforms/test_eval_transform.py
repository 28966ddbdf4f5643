"""Tests of the deterministic evaluation transform and the transform registry."""

import pytest
import torch

from deepclust.transforms import TRANSFORMS, EvalTransform, FeatureTransform, SCANStrongTransform, SimCLRTransform


def _images(b: int, size: int, c: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, size, size, c), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [8, 28, 32])
@pytest.mark.parametrize("b", [1, 5])
def test_eval_transform(b: int, size: int, c: int) -> None:
    images = _images(b, size, c)
    out = EvalTransform([0.0] * c, [1.0] * c)(images)
    assert out.shape == (b, c, size, size) and out.dtype == torch.float32
    assert torch.equal(out, images.permute(0, 3, 1, 2).float() / 255)
    normed = EvalTransform([0.5] * c, [0.25] * c)(images, torch.Generator().manual_seed(1))
    assert torch.allclose(normed, (out - 0.5) / 0.25)


def test_eval_transform_invalid() -> None:
    with pytest.raises(ValueError, match="std"):
        EvalTransform([0.5], [0.0])
    with pytest.raises(ValueError, match="mean"):
        EvalTransform([0.5, 0.5], [0.2, 0.2])
    with pytest.raises(ValueError, match="channels"):
        EvalTransform([0.5], [0.2])(_images(1, 8, 3))


def test_eval_transform_resizes_and_repeats_gray_for_a_pretrained_network() -> None:
    gray = _images(2, 28, 1)
    out = EvalTransform([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], size=64, rgb=True)(gray)
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.float32
    # The three channels carry the same image, each normalised with its own statistics.
    raw = out * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) + torch.tensor([0.485, 0.456, 0.406]).view(
        1, 3, 1, 1)
    assert torch.allclose(raw[:, 0], raw[:, 1], atol=1e-6) and torch.allclose(raw[:, 1], raw[:, 2], atol=1e-6)
    # A constant image stays constant through the antialiased resize.
    flat = torch.full((1, 10, 10, 3), 128, dtype=torch.uint8)
    assert torch.allclose(EvalTransform([0.0] * 3, [1.0] * 3, size=32)(flat), torch.full((1, 3, 32, 32), 128 / 255))
    same = _images(1, 32, 3)
    assert torch.equal(EvalTransform([0.0] * 3, [1.0] * 3, size=32)(same), EvalTransform([0.0] * 3, [1.0] * 3)(same))
    with pytest.raises(ValueError, match="rgb needs 3-entry"):
        EvalTransform([0.5], [0.2], rgb=True)
    with pytest.raises(ValueError, match="size"):
        EvalTransform([0.5], [0.2], size=0)


def test_registry() -> None:
    expected = {"simclr": SimCLRTransform, "scan_strong": SCANStrongTransform, "eval": EvalTransform,
                "features": FeatureTransform}
    assert TRANSFORMS == expected

"""SimCLR method: one training step on a tiny uint8 batch."""

from __future__ import annotations

import math

import pytest
import torch

from deepclust.engine import LossOutput, Runtime, TrainState
from deepclust.methods import SimCLR
from deepclust.models import build_backbone
from deepclust.transforms import SimCLRTransform


def _method(symmetric: bool = False) -> SimCLR:
    torch.manual_seed(0)
    transform = SimCLRTransform(mean=[0.3], std=[0.3], hflip_prob=0.0, saturation=0.0, hue=0.0,
                                grayscale_prob=0.0, crop_scale=(0.5, 1.0))
    return SimCLR(build_backbone("small_cnn", 1, 4), transform, temperature=0.1, symmetric=symmetric,
                  hidden_dim=16, output_dim=8)


def _state(seed: int = 0) -> TrainState:
    """The loop's state for a single step; the method reads only its generator."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return TrainState(Runtime.auto(seed=0, device="cpu"), optimizer, epochs=1,
                      generator=torch.Generator().manual_seed(seed))


def _images(b: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (b, 8, 8, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("symmetric", [False, True])
def test_training_step_gives_finite_scalar_with_grad(symmetric: bool) -> None:
    method = _method(symmetric).train()
    out = method.training_step({"images": _images()}, _state(0))
    assert isinstance(out, LossOutput)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss) and out.loss.requires_grad
    assert -1.0 <= out.metrics["positive_similarity"] <= 1.0
    out.loss.backward()
    grads = [p.grad for p in method.model.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_loss_is_bounded_by_log_of_negatives() -> None:
    # NT-Xent with 2B - 1 candidates lies in [0, log(2B - 1) + 2 / temperature].
    out = _method().training_step({"images": _images(8)}, _state(0))
    assert 0.0 <= out.loss.item() <= math.log(15) + 2 / 0.1


def test_same_generator_same_loss() -> None:
    method = _method().train()
    a = method.training_step({"images": _images()}, _state(5)).loss.item()
    b = method.training_step({"images": _images()}, _state(5)).loss.item()
    assert a == b

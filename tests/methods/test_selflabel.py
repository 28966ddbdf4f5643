"""SelfLabel method: a training step on confident samples; None when no sample is confident."""

from __future__ import annotations

import pytest
import torch

from deepclust.engine import Runtime, TrainState
from deepclust.methods import SelfLabel
from deepclust.models import ClusteringHead, HeadModel, build_backbone
from deepclust.transforms import EvalTransform, SCANStrongTransform

MEAN, STD = [0.3], [0.3]


def _method(threshold: float) -> SelfLabel:
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", 1, 4)
    model = HeadModel(backbone, ClusteringHead(backbone.output_dim, 3, 1))
    strong = SCANStrongTransform(mean=MEAN, std=STD, hflip_prob=0.0, num_ops=2, cutout_max=3)
    return SelfLabel(model, EvalTransform(MEAN, STD), strong, threshold=threshold)


def _state(seed: int = 0) -> TrainState:
    """The loop's state for a single step; the method reads only its generator."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return TrainState(Runtime.auto(seed=0, device="cpu"), optimizer, epochs=1,
                      generator=torch.Generator().manual_seed(seed))


def _images(b: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (b, 8, 8, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))


def test_nothing_confident_returns_none() -> None:
    method = _method(threshold=0.999999).train()
    assert method.training_step({"images": _images()}, _state(0)) is None


def test_confident_samples_give_finite_scalar_with_grad() -> None:
    method = _method(threshold=0.01).train()  # with 3 clusters every max probability is > 1/3
    out = method.training_step({"images": _images()}, _state(0))
    assert out is not None
    assert out.loss.dim() == 0 and torch.isfinite(out.loss) and out.loss.requires_grad
    assert out.metrics["confident_fraction"] == pytest.approx(1.0)
    out.loss.backward()
    assert method.model.head.heads[0].weight.grad.abs().sum() > 0


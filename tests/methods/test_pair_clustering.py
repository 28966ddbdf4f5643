"""PairClustering (CC, DCDC, IIC on one method): which head group an epoch trains, repeats, CC's instance head,
the per-sub-head epoch losses the selection uses, and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepclust.engine import Runtime, TrainState
from deepclust.engine.samplers import EpochBatches, random_order
from deepclust.losses import ClusterContrastiveLoss, DCDCLoss, IICLoss
from deepclust.methods import PairClustering
from deepclust.models import build_backbone
from deepclust.transforms import PairTransform, SimCLRViewTransform
from tests.methods.resume import assert_resume_matches

RUNTIME = Runtime.auto(seed=0, device="cpu")
IMAGES = torch.randint(0, 256, (40, 8, 8, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))


def _views() -> PairTransform:
    view = SimCLRViewTransform(mean=[0.5], std=[0.3], crop_scale=(0.6, 1.0), hflip_prob=0.0, saturation=0.0, hue=0.0,
                               grayscale_prob=0.0, rotation=20)
    return PairTransform(SimCLRViewTransform(mean=[0.5], std=[0.3], crop_scale=(0.9, 1.0), hflip_prob=0.0,
                                             jitter_prob=0.0, grayscale_prob=0.0), view)


def _method(loss: torch.nn.Module | None = None, groups: tuple[int, ...] = (7, 3),
            schedule: tuple[int, ...] = (0, 1, 1), **kwargs) -> PairClustering:
    torch.manual_seed(0)
    return PairClustering(build_backbone("small_cnn", 1, 4), _views(), groups, loss or IICLoss(), schedule,
                          num_heads=2, **kwargs)


def _state(method: PairClustering, epoch: int) -> TrainState:
    opt = torch.optim.Adam(method.parameters(), lr=0.01)
    return TrainState(RUNTIME, opt, epochs=3, epoch=epoch, generator=torch.Generator().manual_seed(epoch))


def test_each_epoch_trains_its_scheduled_head_group_only() -> None:
    method = _method()
    assert [method.group(e) for e in range(6)] == [0, 1, 1, 0, 1, 1]
    for epoch, trained in ((0, 0), (1, 1)):
        state = _state(method, epoch)
        before = [g.state_dict() for g in method.head.groups]
        before = [{k: v.clone() for k, v in sd.items()} for sd in before]
        out = method.training_step({"images": IMAGES[:8]}, state)
        state.optimizer.zero_grad()
        out.loss.backward()
        state.optimizer.step()
        for g, group in enumerate(method.head.groups):
            moved = any(not torch.equal(v, before[g][k]) for k, v in group.state_dict().items())
            assert moved == (g == trained), (epoch, g)
        assert f"loss_k{(7, 3)[trained]}" in out.metrics


def test_epoch_head_losses_average_the_predicting_groups_sub_heads_over_the_epoch() -> None:
    method = _method()
    method.on_epoch_start(_state(method, 0))
    method.training_step({"images": IMAGES[:8]}, _state(method, 0))  # overclustering: not counted
    assert torch.equal(method.epoch_head_losses(), torch.zeros(2))
    outs = [method.training_step({"images": IMAGES[i:i + 8]}, _state(method, 1)) for i in (0, 8)]
    losses = method.epoch_head_losses()
    assert losses.shape == (2,)
    assert losses.mean().item() == pytest.approx(sum(o.loss.item() for o in outs) / 2, rel=1e-5)
    assert method.trains_final(1) and not method.trains_final(0)


def test_repeats_draw_independent_views_of_each_image() -> None:
    seen: list[int] = []

    class Spy(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            seen.append(len(a))
            return IICLoss()(a, b)

    method = _method(Spy(), groups=(3,), schedule=(0,), repeats=3)
    method.training_step({"images": IMAGES[:5]}, _state(method, 0))
    assert seen == [15, 15]  # two sub-heads, 5 images x 3 views each


def test_cc_adds_the_instance_contrast_of_its_own_head() -> None:
    method = _method(ClusterContrastiveLoss(), groups=(3,), schedule=(0,), hidden_dim=16, instance_temperature=0.5)
    out = method.training_step({"images": IMAGES[:8]}, _state(method, 0))
    assert out.metrics["instance"] > 0
    assert out.loss.item() == pytest.approx(out.metrics["loss_k3"] + out.metrics["instance"], rel=1e-5)


def test_schedule_must_train_the_predicting_group() -> None:
    with pytest.raises(ValueError, match="schedule"):
        _method(DCDCLoss(), groups=(7, 3), schedule=(0,))


def test_fit_resumes_to_the_same_weights(tmp_path: Path) -> None:
    def build() -> tuple[PairClustering, torch.optim.Optimizer]:
        method = _method(DCDCLoss(), schedule=(0, 1))
        return method, torch.optim.Adam(method.parameters(), lr=0.01)

    batches = lambda e: EpochBatches(random_order(40, e, 0), 10, lambda idx: {"images": IMAGES[idx]})  # noqa: E731
    assert_resume_matches(tmp_path, build, batches, 0.01, 4)

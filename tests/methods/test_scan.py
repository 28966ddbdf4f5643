"""SCAN method: a training step, neighbour pairing, the unlabelled selection loss, a frozen backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepclust.engine import Runtime, TrainState
from deepclust.methods import SCAN, scan_batch_maker, selection_losses
from deepclust.models import build_backbone
from deepclust.transforms import SCANStrongTransform


def _method(num_heads: int = 2, update_head_only: bool = False) -> SCAN:
    torch.manual_seed(0)
    transform = SCANStrongTransform(mean=[0.3], std=[0.3], hflip_prob=0.0, num_ops=2, cutout_max=3)
    return SCAN(build_backbone("small_cnn", 1, 4), transform, num_clusters=3, num_heads=num_heads,
                entropy_weight=5.0, update_head_only=update_head_only)


def _state(seed: int = 0) -> TrainState:
    """The loop's state for a single step; the method reads only its generator."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    return TrainState(Runtime.auto(seed=0, device="cpu"), optimizer, epochs=1,
                      generator=torch.Generator().manual_seed(seed))


def _batch(b: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {k: torch.randint(0, 256, (b, 8, 8, 1), dtype=torch.uint8, generator=g)
            for k in ("anchor", "neighbor")}


@pytest.mark.parametrize("num_heads", [1, 3])
def test_training_step_gives_finite_scalar_with_grad(num_heads: int) -> None:
    method = _method(num_heads).train()
    out = method.training_step(_batch(), _state(0))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss) and out.loss.requires_grad
    assert 0.0 <= out.metrics["entropy"] <= math.log(3) + 1e-6
    assert out.metrics["consistency"] >= 0.0
    out.loss.backward()
    for head in method.model.head.heads:  # the loss is summed over heads: every head gets a gradient
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert next(method.model.backbone.parameters()).grad is not None


def test_update_head_only_leaves_backbone_unchanged() -> None:
    method = _method(update_head_only=True).train()
    backbone_before = {k: v.clone() for k, v in method.model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in method.model.head.state_dict().items()}
    params = [p for p in method.parameters() if p.requires_grad]
    assert params and all(not p.requires_grad for p in method.model.backbone.parameters())
    optimizer = torch.optim.Adam(params, lr=0.1)
    out = method.training_step(_batch(), _state(0))
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    assert not method.model.backbone.training
    for key, value in method.model.backbone.state_dict().items():  # weights and BatchNorm statistics
        assert torch.equal(value, backbone_before[key]), key
    assert any(not torch.equal(v, head_before[k]) for k, v in method.model.head.state_dict().items())


def test_batch_maker_draws_partners_from_each_row() -> None:
    n, k = 30, 4
    rng = np.random.default_rng(0)
    rows = [np.concatenate([[i], rng.choice(np.delete(np.arange(n), i), k, replace=False)]) for i in range(n)]
    neighbours = torch.as_tensor(np.stack(rows))
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 2, 2, 1).contiguous()
    seen = set()
    for epoch in range(5):
        make = scan_batch_maker(images, neighbours, seed=0, epoch=epoch)
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        batch = make(idx)
        assert torch.equal(batch["anchor"][:, 0, 0, 0], idx.to(torch.uint8))
        partners = batch["neighbor"][:, 0, 0, 0].long()
        for i, p in zip(idx.tolist(), partners.tolist(), strict=True):
            assert p in neighbours[i].tolist()
            seen.add((i, p))
    assert len(seen) > n  # partners are redrawn across epochs


def test_batch_maker_is_seeded_by_epoch() -> None:
    g = torch.Generator().manual_seed(0)
    neighbours = torch.stack([torch.randperm(20, generator=g)[:6] for _ in range(20)])
    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1)
    idx = torch.arange(20)
    a = scan_batch_maker(images, neighbours, 0, 1)(idx)["neighbor"]
    b = scan_batch_maker(images, neighbours, 0, 1)(idx)["neighbor"]
    c = scan_batch_maker(images, neighbours, 0, 2)(idx)["neighbor"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_selection_loss_hand_case() -> None:
    # Four samples, two clusters, neighbours {0, 1} and {2, 3} (self first).
    # consistent: p0 = p1 = [1, 0], p2 = p3 = [0, 1] -> <p_i, p_j> = 1, consistency 0; p_bar = [.5, .5],
    #   H = log 2: loss = 0 - log 2 = -0.6931.
    # uniform: p = [.5, .5] -> <p, p> = .5, consistency log 2; H = log 2: loss = 0.
    # collapsed: p = [1, 0] for all -> consistency 0, H = 0: loss = 0.
    neighbours = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    consistent = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    uniform = torch.full((4, 2), 0.5)
    collapsed = torch.tensor([[1.0, 0.0]] * 4)
    losses = selection_losses(torch.stack([uniform, consistent, collapsed]), neighbours, num_neighbors=1)
    assert losses.shape == (3,)
    assert losses[0].item() == pytest.approx(0.0, abs=1e-6)
    assert losses[1].item() == pytest.approx(-math.log(2), abs=1e-6)
    assert losses[2].item() == pytest.approx(0.0, abs=1e-6)
    assert int(losses.argmin()) == 1


def test_selection_loss_uses_only_first_neighbours() -> None:
    # Column 2 disagrees with the anchor; with num_neighbors=1 it must not count.
    neighbours = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]])
    probs = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    near = selection_losses(probs, neighbours, num_neighbors=1)
    far = selection_losses(probs, neighbours, num_neighbors=2)
    assert near.item() == pytest.approx(-math.log(2), abs=1e-6)
    assert far.item() > near.item()

"""PCL: warm-up without prototypes, the E-step's prototypes and phi, the queue and the momentum update, resume."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from deepclust.engine import Runtime, TrainState
from deepclust.engine.samplers import EpochBatches, random_order
from deepclust.methods.pcl import PCL
from deepclust.models import build_backbone
from deepclust.transforms import EvalTransform, SimCLRTransform
from tests.methods.resume import assert_resume_matches

RUNTIME = Runtime.auto(seed=0, device="cpu")
IMAGES = torch.randint(0, 256, (40, 8, 8, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))


def _method(warmup: int = 1, queue: int = 16) -> PCL:
    torch.manual_seed(0)
    views = SimCLRTransform(mean=[0.5], std=[0.3], crop_scale=(0.6, 1.0), hflip_prob=0.0, saturation=0.0, hue=0.0,
                            grayscale_prob=0.0)
    return PCL(build_backbone("small_cnn", 1, 4), views, EvalTransform([0.5], [0.3]), IMAGES, [3, 5],
               momentum=0.9, queue_size=queue, warmup_epochs=warmup, hidden_dim=16, output_dim=8, kmeans_niter=5)


def _state(method: PCL, epoch: int = 0) -> TrainState:
    opt = torch.optim.SGD(method.model.parameters(), lr=0.1)
    return TrainState(RUNTIME, opt, epochs=3, epoch=epoch, generator=torch.Generator().manual_seed(epoch))


def test_warmup_is_info_nce_only_then_the_e_step_adds_proto_nce() -> None:
    method = _method(warmup=1)
    state = _state(method, 0)
    assert method.on_epoch_start(state) is None
    out = method.training_step({"images": IMAGES[:8], "index": torch.arange(8)}, state)
    assert "proto_nce" not in out.metrics and out.loss.item() == out.metrics["info_nce"]
    state.epoch = 1
    metrics = method.on_epoch_start(state)
    assert metrics is not None and "estep_seconds" in metrics
    for m, k in enumerate([3, 5]):
        centroids, phi = getattr(method, f"centroids_{m}"), getattr(method, f"phi_{m}")
        assert centroids.shape == (k, 8) and torch.allclose(centroids.norm(dim=1), torch.ones(k), atol=1e-5)
        assert abs(phi.mean().item() - 0.2) < 1e-5
        assert int(getattr(method, f"assignments_{m}").max()) < k
    out = method.training_step({"images": IMAGES[:8], "index": torch.arange(8)}, state)
    assert out.metrics["proto_nce"] > 0 and out.loss.item() > out.metrics["info_nce"]


def test_after_step_updates_the_key_encoder_by_momentum_and_enqueues_the_keys() -> None:
    method = _method(queue=12)
    state = _state(method)
    before_k = copy.deepcopy(method.momentum_model.state_dict())
    out = method.training_step({"images": IMAGES[:8], "index": torch.arange(8)}, state)
    keys = method._keys.clone()  # type: ignore[union-attr]
    state.optimizer.zero_grad()
    out.loss.backward()
    state.optimizer.step()
    method.on_after_step(state)
    name = "backbone.features.0.weight"
    expected = 0.9 * before_k[name] + 0.1 * method.model.state_dict()[name]
    assert torch.allclose(method.momentum_model.state_dict()[name], expected, atol=1e-6)
    assert torch.allclose(method.queue[:8], keys) and int(method.queue_ptr) == 8
    method._keys = keys  # a second batch wraps around the queue of 12
    method.on_after_step(state)
    assert int(method.queue_ptr) == 4 and torch.allclose(method.queue[:4], keys[4:])


def test_fit_resumes_with_queue_and_prototypes(tmp_path: Path) -> None:
    def build() -> tuple[PCL, torch.optim.Optimizer]:
        method = _method(warmup=1)
        return method, torch.optim.SGD(method.model.parameters(), lr=0.05, momentum=0.9)

    batches = lambda e: EpochBatches(random_order(40, e, 0), 10,  # noqa: E731
                                     lambda idx: {"images": IMAGES[idx], "index": idx})
    assert_resume_matches(tmp_path, build, batches, 0.05, 4)

"""IDFD: the memory bank's initialisation and momentum update, the loss against the bank, resume."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from deepclust.engine import Runtime, TrainState
from deepclust.engine.samplers import EpochBatches, random_order
from deepclust.methods import IDFD
from deepclust.models import build_backbone
from deepclust.transforms import SimCLRViewTransform
from tests.methods.resume import assert_resume_matches

RUNTIME = Runtime.auto(seed=0, device="cpu")
IMAGES = torch.randint(0, 256, (30, 8, 8, 1), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))


def _method() -> IDFD:
    torch.manual_seed(0)
    view = SimCLRViewTransform(mean=[0.5], std=[0.3], crop_scale=(0.6, 1.0), hflip_prob=0.0, saturation=0.0, hue=0.0,
                               grayscale_prob=0.0)
    return IDFD(build_backbone("small_cnn", 1, 4), view, len(IMAGES), output_dim=12)


def test_bank_starts_uniform_within_the_reference_bound() -> None:
    bank = _method().bank
    assert bank.shape == (30, 12) and bank.abs().max() <= 1 / math.sqrt(12 / 3)


def test_after_step_moves_only_the_batch_rows_to_normalize_of_the_average() -> None:
    method = _method()
    state = TrainState(RUNTIME, torch.optim.SGD(method.parameters(), lr=0.0), epochs=1,
                       generator=torch.Generator().manual_seed(0))
    before = method.bank.clone()
    index = torch.tensor([3, 7, 11])
    out = method.training_step({"images": IMAGES[index], "index": index}, state)
    assert out.metrics["instance"] > 0 and out.metrics["decorrelation"] > 0
    _, f = method._pending  # the embeddings of this step
    method.on_after_step(state)
    expected = F.normalize(0.5 * before[index] + 0.5 * f, dim=1)
    assert torch.allclose(method.bank[index], expected, atol=1e-6)
    others = torch.ones(30, dtype=torch.bool)
    others[index] = False
    assert torch.equal(method.bank[others], before[others])


def test_fit_resumes_with_the_bank(tmp_path: Path) -> None:
    def build() -> tuple[IDFD, torch.optim.Optimizer]:
        method = _method()
        return method, torch.optim.SGD(method.model.parameters(), lr=0.03, momentum=0.9)

    batches = lambda e: EpochBatches(random_order(30, e, 0), 10,  # noqa: E731
                                     lambda idx: {"images": IMAGES[idx], "index": idx})
    assert_resume_matches(tmp_path, build, batches, 0.03, 3)  # the bank is a buffer: compared too

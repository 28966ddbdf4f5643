"""The resume check every method test shares: 3 epochs straight equal 2 epochs, a restart, and the third."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from deepclust.engine import Runtime, constant_schedule, fit

RUNTIME = Runtime.auto(seed=0, device="cpu")


def assert_resume_matches(tmp_path: Path, build: Callable[[], tuple[nn.Module, torch.optim.Optimizer]],
                          batches: Callable[[int], Iterable[dict[str, torch.Tensor]]], lr: float,
                          steps_per_epoch: int) -> nn.Module:
    """Trains `build()`'s method 3 epochs in one go and 2 + 1 with a restart from the checkpoint in between;
    asserts every entry of their state dicts (parameters and buffers) agree. Returns the resumed method."""

    def run(epochs: int, run_dir: Path) -> nn.Module:
        method, opt = build()
        fit(method, opt, batches, epochs=epochs, runtime=RUNTIME, lr_schedule=constant_schedule(lr, 3, steps_per_epoch),
            run_dir=run_dir, fingerprint="resume")
        return method

    straight = run(3, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed = run(3, tmp_path / "b")
    for key, value in straight.state_dict().items():
        assert torch.allclose(value.float(), resumed.state_dict()[key].float(), atol=1e-5), key
    return resumed

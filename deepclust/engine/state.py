"""The training state `fit` shares with a method's `training_step` and hooks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from deepclust.engine.runtime import Runtime


@dataclass
class TrainState:
    """Mutable run state, passed to `training_step` and to every hook (see `deepclust.engine.loop`).

    Args:
        runtime: Device, autocast and seed.
        optimizer: The optimizer `fit` steps.
        epochs: Total epochs of the run.
        epoch: The current epoch, 0-based.
        step: Global iteration, the index into `lr_schedule` (count every batch, skipped ones included).
            In `training_step` and `on_after_step` it is the current batch's index (the lr applied to it is
            `lr_schedule[step]`, so a momentum schedule indexed by `step` stays aligned); in the other hooks
            it is the index of the next batch.
        steps_per_epoch: Batches in the current epoch; set once `batches(epoch)` is built, so
            `on_epoch_start` still sees the previous epoch's value (0 in the first epoch run).
        generator: The current epoch's generator (`runtime.generator(offset=epoch)`), on the training device.
            Augmentations and E-step draws take it, so a resumed epoch repeats them. `on_fit_start` gets
            `runtime.generator(offset=epochs)`, a stream no epoch uses, the same on every (re)start.
        lr: The base learning rate applied at the current step (each param group gets `lr * lr_scale`).
        stop: Set by a hook to end training after the current epoch (its checkpoint is still saved).
        stop_reason: Why the hook stopped training; logged and returned in `FitResult`.
    """

    runtime: Runtime
    optimizer: torch.optim.Optimizer
    epochs: int
    epoch: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    generator: torch.Generator = field(default_factory=torch.Generator)
    lr: float = 0.0
    stop: bool = False
    stop_reason: str = ""

    def reset_optimizer_state(self, params: Iterable[torch.Tensor]) -> None:
        """Drops the optimizer's per-parameter state (momentum buffers, Adam moments and step) of `params`.

        Re-initialise such parameters in place (`nn.init.*_` or `.copy_`): the optimizer holds the Parameter
        objects, so a newly created layer would not be trained. DeepCluster re-initialises its top layer each
        epoch and trains it with a fresh optimizer (reference-methods.md, section 4).
        """
        for p in params:
            self.optimizer.state.pop(p, None)

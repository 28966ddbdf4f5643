"""The one training loop every method runs on: device moves, autocast, schedules, NaN guard, progress, resume.

Method protocol (duck-typed). A method is an `nn.Module`; `fit` checkpoints its whole `state_dict()`
(parameters, buffers and `get_extra_state`), so anything a hook computes and a resumed run needs, such as
pseudo-labels or a momentum encoder, lives in a parameter, a buffer or the extra state.

Required:
    training_step(batch, state) -> LossOutput | None
        The loss of one batch, already on the device and under autocast; draws randomness from
        `state.generator`. None skips the batch (no optimizer step, counted in `skipped_batches`).

Optional hooks, called only when the method defines them, outside autocast (for batched forward passes use
`deepclust.engine.predict(..., state.runtime)`), in this order:
    on_fit_start(state)
        Once, before the first epoch that runs (after a resumed checkpoint is loaded, so `state.epoch` and
        `state.step` say where training continues); `state.generator` is `runtime.generator(offset=epochs)`,
        the same on every (re)start. Not called when nothing is left to train.
    on_epoch_start(state) -> dict | None
        Before the epoch's batches are built: E-step, pseudo-labels, head re-initialisation
        (`state.reset_optimizer_state`), target refresh. `state.generator` is the epoch's generator, so a
        resumed epoch repeats the same draws, and `batches(epoch)` may use what the hook computed (a sampler
        over pseudo-labels). The hook may switch to eval mode: `fit` puts the method in train mode after it.
    on_after_step(state)
        After each `optimizer.step()`: momentum-encoder update, queue.
    on_epoch_end(state, metrics) -> dict | None
        After the epoch's batches, before `fit`'s `on_epoch_end` callback argument and the checkpoint.

The dicts that `on_epoch_start` and `on_epoch_end` return are merged into the epoch's metrics. Any hook may
set `state.stop` (and `state.stop_reason`) to end training after the current epoch; set in `on_epoch_start`,
the epoch trains on no batch (a convergence test on the E-step's result). A resumed run that had stopped
trains no further.

Several processes (`torchrun`; docs/distributed.md). When `runtime.world_size` > 1, `fit` joins the process
group and wraps the method in DistributedDataParallel through a module whose `forward` is `training_step`
(DDP hooks gradient averaging onto calls of `forward` only). Every rank loads the same checkpoint; DDP then
broadcasts rank 0's weights. `batches(epoch)` gives this rank's share of each global batch (`EpochBatches`
with `rank`, `world_size`); the hooks and `batches(epoch)` draw from the same epoch generator on every rank,
the batches from a per-rank stream. A rank whose `training_step` returns None contributes zero gradients;
the optimizer steps unless every rank skipped. Losses that need the global batch gather it themselves
(`gather_distributed`). Epoch metrics are averaged over every rank's batches; only rank 0 prints and writes.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from deepclust.engine import progress as _progress
from deepclust.engine.checkpoint import load_checkpoint, save_checkpoint
from deepclust.engine.distributed import (
    all_ranks_true,
    all_reduce_sums,
    any_rank_true,
    barrier,
    init_process_group,
    max_over_ranks,
)
from deepclust.engine.runtime import Runtime
from deepclust.engine.state import TrainState
from deepclust.errors import DeepclustError, NonFiniteLossError
from deepclust.io import atomic_path

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


@dataclass
class LossOutput:
    """What a method's `training_step` returns: the scalar loss and floats to log."""

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class FitResult:
    """What `fit` returns: per-epoch history, where training started (0 unless resumed) and an early stop."""

    history: list[dict[str, float]]
    start_epoch: int
    stopped: bool = False
    stop_reason: str = ""


def fit(
    method: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int], Iterable[Batch]],
    *,
    epochs: int,
    runtime: Runtime,
    lr_schedule: np.ndarray,
    run_dir: Path | None = None,
    fingerprint: str = "",
    clip_grad: float | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], dict[str, float] | None] | None = None,
    desc: str = "train",
    sync_batchnorm: bool = True,
    progress_interval: float | None = None,
) -> FitResult:
    """Trains `method` for `epochs`, resuming from `run_dir/checkpoint.pt` when its fingerprint matches.

    The method follows the protocol in this module's docstring: `training_step(batch, state)` plus optional
    hooks. Every batch, each param group's learning rate is set to `lr_schedule[step] * group["lr_scale"]`
    (`lr_scale` defaults to 1, so a method can give its head 10x the trunk's rate through a param group
    with `lr_scale=10`); `step` counts batches over the whole run and is checkpointed, so a resumed run sees
    the same schedule. A checkpoint (method, optimizer, epoch, step, history, early stop) is saved atomically
    after every epoch; a non-finite loss stops the run and leaves the last good checkpoint in place.

    Args:
        method: An nn.Module with `training_step`; its state (and `get_extra_state`) is checkpointed.
        optimizer: Optimizer over the method's trainable parameters.
        batches: `batches(epoch)` returns that epoch's sized iterable of CPU batches; it is called after the
            method's `on_epoch_start` hook.
        epochs: Total epochs.
        runtime: Device, autocast and seed.
        lr_schedule: One base learning rate per iteration (see `deepclust.engine.schedule`).
        run_dir: Where `checkpoint.pt` and `log.csv` live; None disables checkpointing.
        fingerprint: Digest of params, inputs and code; a checkpoint with another one is not resumed.
        clip_grad: Max gradient norm, or None.
        on_epoch_end: Called with (epoch, metrics) after the method's `on_epoch_end` hook; may return extra
            metrics (e.g. a validation loss).
        desc: Progress-bar label.
        sync_batchnorm: Under several CUDA processes, BatchNorm statistics span the global batch (SyncBatchNorm),
            as on the one device of the references and in SimCLR's global BN; False keeps them per process
            (MoCo/PCL's shuffle-BN needs that). gloo on the CPU has no SyncBatchNorm: per process there.
        progress_interval: Seconds between progress lines within an epoch (step/steps, images/s, ETA; see
            `deepclust.engine.progress`), printed by rank 0 when stdout is not a terminal; on a terminal the
            tqdm bar shows progress instead. None: `DEEPCLUST_PROGRESS_INTERVAL` from the environment, else
            30 s; 0 turns the lines off.

    Returns:
        The history of every epoch (resumed ones included), the epoch training started at, and whether a
        hook stopped training early and why.

    Raises:
        NonFiniteLossError: When the loss is NaN or infinite.
    """
    method.to(runtime.device)
    runtime.prepare_model(method)
    init_process_group(runtime)
    if runtime.world_size > 1 and sync_batchnorm and runtime.device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(method)  # in place below the root; same Parameter objects
    ckpt_path = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
    interval = _progress.progress_interval(os.environ) if progress_interval is None else float(progress_interval)
    loop = _Loop(method, batches, np.asarray(lr_schedule), ckpt_path, fingerprint, clip_grad, on_epoch_end, desc,
                 interval)
    state = TrainState(runtime=runtime, optimizer=optimizer, epochs=epochs)
    history = loop.resume(state)
    start_epoch = state.epoch
    if state.stop or start_epoch >= epochs:
        return FitResult(history, start_epoch, state.stop, state.stop_reason)
    if runtime.world_size > 1:
        loop.ddp = _distributed(method, runtime)
    state.generator = runtime.generator(offset=epochs)  # a stream none of the epochs uses
    _hook(method, "on_fit_start", state)
    for epoch in range(start_epoch, epochs):
        state.epoch = epoch
        history.append(loop.run_epoch(state))
        loop.save(state, history)
        if state.stop:
            log.info("%s: stopped after epoch %d: %s", desc, epoch + 1, state.stop_reason)
            if runtime.is_main:
                print(f"[{desc}] stopped after epoch {epoch + 1}: {state.stop_reason}", flush=True)
            break
    barrier()  # what rank 0 wrote (checkpoint, a selected head) is there for every rank to read next
    return FitResult(history, start_epoch, state.stop, state.stop_reason)


class _TrainingStep(nn.Module):
    """The module DDP wraps: its `forward` is the method's `training_step`, so DDP's hooks see every step.

    Returns (loss, metrics, trained). A skipped batch (None) gives a zero loss that touches every trainable
    parameter, so this rank still joins the gradient all-reduce (DDP would wait for it otherwise).
    """

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Batch, state: TrainState) -> tuple[torch.Tensor, dict[str, float], bool]:
        out = cast(Callable[[Batch, TrainState], LossOutput | None], self.method.training_step)(batch, state)
        if out is not None:
            return out.loss, out.metrics, True
        params = [p for p in self.method.parameters() if p.requires_grad]
        return torch.stack([p.sum() for p in params]).sum() * 0.0, {}, False


def _distributed(method: nn.Module, runtime: Runtime) -> nn.Module:
    """DDP over `_TrainingStep(method)`; finds unused parameters (a head group idle for an epoch, PairClustering)."""
    device_ids = [runtime.device] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(_TrainingStep(method), device_ids=device_ids,
                                               find_unused_parameters=True)


@dataclass
class _Loop:
    """What `fit` was given, and the steps of one run: resume, epoch, optimizer step, checkpoint."""

    method: nn.Module
    batches: Callable[[int], Iterable[Batch]]
    lr_schedule: np.ndarray
    ckpt_path: Path | None
    fingerprint: str
    clip_grad: float | None
    on_epoch_end: Callable[[int, dict[str, float]], dict[str, float] | None] | None
    desc: str
    progress_interval: float = 0.0  # seconds between progress lines; 0: none
    ddp: nn.Module | None = None  # DDP over `_TrainingStep(method)` when several processes train

    def resume(self, state: TrainState) -> list[dict[str, float]]:
        """Loads the checkpoint, when there is one to resume, into the method, optimizer and `state`."""
        if self.ckpt_path is None or (payload := load_checkpoint(self.ckpt_path, self.fingerprint)) is None:
            return []
        run = payload["run_variables"]
        if "step" not in run:
            raise DeepclustError(f"{self.ckpt_path}: checkpoint has no global step (older engine): delete it")
        self.method.load_state_dict(payload["states"]["method"])
        state.optimizer.load_state_dict(payload["states"]["optimizer"])
        state.epoch, state.step = int(run["epoch"]), int(run["step"])
        state.stop, state.stop_reason = bool(run.get("stopped", False)), str(run.get("stop_reason", ""))
        log.info("%s: resuming from %s at epoch %d", self.desc, self.ckpt_path, state.epoch)
        if state.runtime.is_main:
            note = f", stopped early: {state.stop_reason}" if state.stop else ""
            print(f"[{self.desc}] resuming from epoch {state.epoch} ({self.ckpt_path}){note}", flush=True)
        return list(run["history"])

    def run_epoch(self, state: TrainState) -> dict[str, float]:
        """Runs epoch `state.epoch` with its hooks and returns its metrics."""
        t0 = time.perf_counter()
        state.generator = state.runtime.generator(offset=state.epoch)
        started = _hook(self.method, "on_epoch_start", state) or {}
        # A convergence test at the E-step (DEC's label change) stops before training on the new targets.
        epoch_batches = [] if state.stop else self.batches(state.epoch)
        state.steps_per_epoch = len(epoch_batches) if isinstance(epoch_batches, Sized) else 0
        self.method.train()
        if state.runtime.world_size > 1:  # ranks augment different images: different draws
            state.generator = state.runtime.generator(offset=state.epoch, per_rank=True)
        state.lr = self._lr_at(state.step)  # logged even if the epoch had no batch
        sums: dict[str, float] = {}
        done = skipped = 0
        bar = tqdm(epoch_batches, desc=f"{self.desc} {state.epoch + 1}/{state.epochs}", leave=False,
                   disable=None if state.runtime.is_main else True, mininterval=2.0)
        # Lines where the bar cannot draw (logs, Prefect); on a terminal the bar alone.
        interval = self.progress_interval if state.runtime.is_main and not _progress.is_terminal(sys.stdout) else 0
        progress = _progress.ProgressLine(self.desc, state.epoch, state.epochs, state.steps_per_epoch, interval,
                                          images_scale=state.runtime.world_size)
        for batch in bar:
            out = self.step(batch, state)
            progress.update(_batch_len(batch))
            if out is None:
                skipped += 1
                continue
            done += 1
            for k, v in {"loss": out.loss.item(), **out.metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.set_postfix(loss=f"{out.loss.item():.4f}", refresh=False)
        sums, done = all_reduce_sums({**sums, "skipped_batches": skipped}, done)  # every rank's batches
        skipped = int(sums.pop("skipped_batches"))
        metrics = {k: v / max(done, 1) for k, v in sums.items()}
        metrics.update(epoch=state.epoch + 1, lr=state.lr, skipped_batches=skipped,
                       seconds=max_over_ranks(time.perf_counter() - t0))
        metrics.update(started)
        metrics.update(_hook(self.method, "on_epoch_end", state, metrics) or {})
        if self.on_epoch_end is not None:
            metrics.update(self.on_epoch_end(state.epoch, metrics) or {})
        return metrics

    def step(self, batch: Batch, state: TrainState) -> LossOutput | None:
        """One batch at `lr_schedule[state.step]`: loss, NaN guard, backward, clip, optimizer step, hook."""
        state.lr = self._lr_at(state.step)
        for group in state.optimizer.param_groups:
            group["lr"] = state.lr * group.get("lr_scale", 1.0)
        batch = _to_device(batch, state.runtime.device)
        with state.runtime.autocast():
            if self.ddp is None:
                training_step = cast(Callable[[Batch, TrainState], LossOutput | None], self.method.training_step)
                out = training_step(batch, state)
                loss, trained = (None, False) if out is None else (out.loss, True)
            else:  # every rank runs backward, a skipping one with zero gradients
                loss, metrics, trained = self.ddp(batch, state)
                out = LossOutput(loss, metrics) if trained else None
        if loss is not None:
            self._check_finite(loss, state)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip_grad:
                nn.utils.clip_grad_norm_(self.method.parameters(), self.clip_grad)
            if any_rank_true(trained, state.runtime.device):
                state.optimizer.step()
                _hook(self.method, "on_after_step", state)
        state.step += 1
        return out

    def save(self, state: TrainState, history: list[dict[str, float]]) -> None:
        """Prints the epoch's metrics; writes the checkpoint and `log.csv` (main process only)."""
        if not state.runtime.is_main:
            return
        print(f"[{self.desc}] " + " ".join(f"{k}={_fmt(v)}" for k, v in history[-1].items()), flush=True)
        if self.ckpt_path is None:
            return
        run_variables = {"epoch": state.epoch + 1, "step": state.step, "history": history,
                         "stopped": state.stop, "stop_reason": state.stop_reason}
        save_checkpoint(self.ckpt_path, self.fingerprint, run_variables, method=self.method,
                        optimizer=state.optimizer)
        write_history(self.ckpt_path.parent / "log.csv", history)

    def _lr_at(self, step: int) -> float:
        return float(self.lr_schedule[min(step, len(self.lr_schedule) - 1)])

    def _check_finite(self, loss: torch.Tensor, state: TrainState) -> None:
        if all_ranks_true(bool(torch.isfinite(loss.detach()).item()), state.runtime.device):  # all stop together
            return
        path = self.ckpt_path
        kept = f"; last good checkpoint kept at {path}" if path and path.exists() else ""
        raise NonFiniteLossError(f"{self.desc}: non-finite loss ({loss.item()}) at epoch {state.epoch + 1}{kept}")


def _hook(method: nn.Module, name: str, *args: Any) -> Any:
    """Calls `method.<name>(*args)` when the method defines that hook; returns its result or None."""
    hook: Any = getattr(method, name, None)
    return hook(*args) if callable(hook) else None


def _batch_len(batch: Batch) -> int:
    """Samples in a batch: the leading size of its first tensor (0 for an empty batch)."""
    first = next(iter(batch.values()), None)
    return int(first.shape[0]) if isinstance(first, torch.Tensor) and first.dim() > 0 else 0


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """Writes per-epoch metrics as CSV (atomically); DVC plots read it."""
    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)

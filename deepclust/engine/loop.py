"""The one training loop every method runs on: device moves, autocast, schedules, NaN guard, progress, resume."""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from deepclust.engine.checkpoint import load_checkpoint, save_checkpoint
from deepclust.engine.runtime import Runtime
from deepclust.errors import NonFiniteLossError
from deepclust.io import atomic_path

log = logging.getLogger(__name__)


@dataclass
class LossOutput:
    """What a method's `training_step` returns: the scalar loss and floats to log."""

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class FitResult:
    """What `fit` returns: per-epoch history and where training started (0 unless resumed)."""

    history: list[dict[str, float]]
    start_epoch: int


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def fit(
    method: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Callable[[int], Iterable[dict[str, torch.Tensor]]],
    *,
    epochs: int,
    runtime: Runtime,
    lr_schedule: np.ndarray,
    run_dir: Path | None = None,
    fingerprint: str = "",
    clip_grad: float | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], dict[str, float] | None] | None = None,
    desc: str = "train",
) -> FitResult:
    """Trains `method` for `epochs`, resuming from `run_dir/checkpoint.pt` when its fingerprint matches.

    `method.training_step(batch, generator)` returns a `LossOutput`, or None to skip the batch (e.g. a
    self-labelling batch with no confident sample). The learning rate of every param group is set from
    `lr_schedule[global_step]`, so a resumed run sees the same schedule. A checkpoint is saved atomically
    after every epoch; a non-finite loss stops the run and leaves the last good checkpoint in place.

    Args:
        method: An nn.Module with `training_step`; its state (and `get_extra_state`) is checkpointed.
        optimizer: Optimizer over the method's trainable parameters.
        batches: `batches(epoch)` returns that epoch's sized iterable of CPU batches.
        epochs: Total epochs.
        runtime: Device, autocast and seed.
        lr_schedule: One learning rate per iteration (see `deepclust.engine.schedule`).
        run_dir: Where `checkpoint.pt` and `log.csv` live; None disables checkpointing.
        fingerprint: Digest of params, inputs and code; a checkpoint with another one is not resumed.
        clip_grad: Max gradient norm, or None.
        on_epoch_end: Called with (epoch, metrics); may return extra metrics (e.g. a validation loss).
        desc: Progress-bar label.

    Raises:
        NonFiniteLossError: When the loss is NaN or infinite.
    """
    method.to(runtime.device)
    ckpt_path = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
    history: list[dict[str, float]] = []
    start_epoch = 0
    if ckpt_path is not None and (state := load_checkpoint(ckpt_path, fingerprint)) is not None:
        method.load_state_dict(state["states"]["method"])
        optimizer.load_state_dict(state["states"]["optimizer"])
        start_epoch = int(state["run_variables"]["epoch"])
        history = list(state["run_variables"]["history"])
        log.info("%s: resuming from %s at epoch %d", desc, ckpt_path, start_epoch)
        print(f"[{desc}] resuming from epoch {start_epoch} ({ckpt_path})", flush=True)
    step = start_epoch * _num_batches(batches(start_epoch)) if start_epoch else 0
    for epoch in range(start_epoch, epochs):
        method.train()
        generator = runtime.generator(offset=epoch)
        epoch_batches = batches(epoch)
        sums: dict[str, float] = {}
        done = skipped = 0
        lr = float(lr_schedule[min(step, len(lr_schedule) - 1)])  # logged even if the epoch had no batch
        t0 = time.perf_counter()
        bar = tqdm(epoch_batches, desc=f"{desc} {epoch + 1}/{epochs}", leave=False, disable=None if runtime.is_main else True,
                   mininterval=2.0)
        for batch in bar:
            lr = float(lr_schedule[min(step, len(lr_schedule) - 1)])
            for group in optimizer.param_groups:
                group["lr"] = lr
            step += 1
            with runtime.autocast():
                out = method.training_step(_to_device(batch, runtime.device), generator)
            if out is None:
                skipped += 1
                continue
            loss = out.loss
            if not torch.isfinite(loss.detach()).item():
                kept = f"; last good checkpoint kept at {ckpt_path}" if ckpt_path and ckpt_path.exists() else ""
                raise NonFiniteLossError(f"{desc}: non-finite loss ({loss.item()}) at epoch {epoch + 1}{kept}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad:
                nn.utils.clip_grad_norm_(method.parameters(), clip_grad)
            optimizer.step()
            done += 1
            for k, v in {"loss": loss.item(), **out.metrics}.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        metrics = {k: v / max(done, 1) for k, v in sums.items()}
        metrics.update(epoch=epoch + 1, lr=lr, skipped_batches=skipped, seconds=time.perf_counter() - t0)
        if on_epoch_end is not None:
            metrics.update(on_epoch_end(epoch, metrics) or {})
        history.append(metrics)
        if runtime.is_main:
            print(f"[{desc}] " + " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()), flush=True)
        if ckpt_path is not None and runtime.is_main:
            save_checkpoint(ckpt_path, fingerprint, {"epoch": epoch + 1, "history": history},
                            method=method, optimizer=optimizer)
            write_history(Path(run_dir) / "log.csv", history)
    return FitResult(history, start_epoch)


def _num_batches(batches: Iterable) -> int:
    return len(batches) if isinstance(batches, Sized) else 0


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """Writes per-epoch metrics as CSV (atomically); DVC plots read it."""
    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)

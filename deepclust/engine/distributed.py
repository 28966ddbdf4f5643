"""Multi-process helpers: process group set-up, all-gather with gradients, metric averaging, barriers.

Every helper falls back to one process (rank 0, world size 1, identity gather) when torch.distributed is not
initialised, so the same code runs plainly and under `torchrun` (lightly's `lightly/utils/dist.py`, dino's
`init_distributed_mode`).
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from deepclust.engine.runtime import Runtime


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank, 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes, 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0, the only process that writes files (dino's `is_main_process`)."""
    return rank() == 0


def init_process_group(runtime: Runtime, timeout_s: float = 1800.0) -> None:
    """Joins the process group torchrun describes (MASTER_ADDR/PORT, RANK, WORLD_SIZE); a no-op for one process.

    nccl on CUDA, gloo on the CPU. Idempotent, so a stage and `fit` may both call it. The group is destroyed at
    interpreter exit.

    Args:
        runtime: Its rank and world size come from torchrun's environment (`Runtime.auto`).
        timeout_s: How long a collective waits for the other ranks before failing (a rank that died).
    """
    if runtime.world_size <= 1 or dist.is_initialized():
        return
    if runtime.device.type == "cuda":
        torch.cuda.set_device(runtime.device)
    backend = "nccl" if runtime.device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=runtime.rank, world_size=runtime.world_size,
                            timeout=timedelta(seconds=timeout_s),
                            device_id=runtime.device if runtime.device.type == "cuda" else None)
    atexit.register(_destroy)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather_with_grad(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenates each tensor over all ranks along dim 0 (rank order), keeping the autograd graph.

    The backward of an all-gather sums the gradients every rank computed for a rank's slice. When every rank
    computes the same loss on the gathered batch, the slice's gradient is world_size times the single-process
    one, and DDP's averaging of the parameter gradients divides it out again: the step equals the
    single-process step on the concatenated batch (tests/engine/test_distributed.py checks this).

    Args:
        tensors: Same shape on every rank. Shape: (B, ...) each.

    Returns:
        One tensor per input. Shape: (world_size * B, ...); the inputs themselves when not distributed.
    """
    if not is_distributed():
        return tensors
    return tuple(_GatherWithGrad.apply(t) for t in tensors)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0; backward sums the gathered gradient over ranks and keeps this rank's rows
    (lightly's `GatherLayer`; works on gloo, which has no reduce_scatter)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rows = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = dist.get_rank() * ctx.rows
        return grad[start:start + ctx.rows]


@torch.no_grad()
def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenates `tensor` over all ranks along dim 0 without a graph (MoCo's `concat_all_gather`, for keys)."""
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_ranks_true(flag: bool, device: torch.device) -> bool:
    """True when `flag` holds on every rank (a finite loss, a batch to train on); `flag` when not distributed."""
    if not is_distributed():
        return flag
    t = torch.tensor(int(flag), device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def any_rank_true(flag: bool, device: torch.device) -> bool:
    """True when `flag` holds on at least one rank; `flag` when not distributed."""
    if not is_distributed():
        return flag
    t = torch.tensor(int(flag), device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_reduce_sums(sums: Mapping[str, float], count: int) -> tuple[dict[str, float], int]:
    """Adds per-rank metric sums and batch counts over all ranks (epoch metrics: the mean over every batch).

    Ranks may hold different keys (a metric only some batches log); the result holds their union.

    Args:
        sums: Metric name -> sum over this rank's batches.
        count: This rank's batch count.

    Returns:
        (summed metrics, total count); the inputs when not distributed.
    """
    if not is_distributed():
        return dict(sums), count
    parts: list[tuple[dict[str, float], int] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (dict(sums), int(count)))
    total: dict[str, float] = {}
    for part in parts:
        assert part is not None
        for k, v in part[0].items():
            total[k] = total.get(k, 0.0) + v
    return total, sum(p[1] for p in parts if p is not None)


def max_over_ranks(value: float) -> float:
    """The largest `value` of any rank (wall seconds of an epoch: the slowest rank's)."""
    if not is_distributed():
        return value
    parts: list[float | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, float(value))
    return max(p for p in parts if p is not None)


def barrier() -> None:
    """Waits for every rank (rank 0 finished writing a file the others read next); a no-op for one process."""
    if is_distributed():
        dist.barrier()


def local_batch_size(batch_size: int, num_processes: int) -> int:
    """Each rank's share of a global batch.

    Params give the global batch (the reference's), so a run on N processes gathers exactly the batch one
    process would see, and the learning rate and schedule need no change.

    Raises:
        ValueError: When `batch_size` is not a multiple of `num_processes`.
    """
    if batch_size % num_processes:
        raise ValueError(f"batch_size {batch_size} is not a multiple of the {num_processes} processes: every rank "
                         "takes an equal share of the global batch")
    return batch_size // num_processes

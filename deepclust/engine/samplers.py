"""Samplers give each epoch's sample order; `EpochBatches` cuts an order into mini-batches.

An order is a function of (seed, epoch) or of a seeded generator, so a resumed epoch sees the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch


def random_order(num_samples: int, epoch: int, seed: int, samples_per_epoch: int | None = None) -> torch.Tensor:
    """A permutation of `range(num_samples)` seeded by (seed, epoch), optionally cut to its first samples.

    Args:
        num_samples: Data set size.
        epoch: Epoch number (part of the seed).
        seed: Base seed.
        samples_per_epoch: Keep only the first this-many indices (a CPU budget on a large data set: every
            epoch sees a different random subset); None keeps all.

    Returns:
        Indices, int64. Shape: (min(num_samples, samples_per_epoch),).
    """
    g = torch.Generator().manual_seed(hash((seed, epoch)) & 0x7FFF_FFFF)
    return torch.randperm(num_samples, generator=g)[:samples_per_epoch]


def cyclic_order(num_samples: int, start: int, count: int, seed: int) -> torch.Tensor:
    """`count` indices from position `start` of an endless stream of seeded permutations, one per pass.

    Pass k is `random_order(num_samples, k, seed)`, so a method whose "epoch" is a fixed number of steps
    rather than a pass over the data (DEC's update interval) walks every sample once per pass, and any window
    of the stream is reproducible on resume.

    Args:
        num_samples: Data set size N.
        start: Position in the stream (e.g. epoch * steps * batch_size).
        count: Indices to return.
        seed: Base seed.

    Returns:
        Indices, int64. Shape: (count,).
    """
    if num_samples < 1 or start < 0 or count < 0:
        raise ValueError(f"need num_samples >= 1, start >= 0, count >= 0; got {num_samples}, {start}, {count}")
    parts, position = [], start
    while count > 0:
        passno, offset = divmod(position, num_samples)
        take = min(count, num_samples - offset)
        parts.append(random_order(num_samples, passno, seed)[offset:offset + take])
        position, count = position + take, count - take
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def uniform_label_order(labels: torch.Tensor | np.ndarray, num_samples: int,
                        generator: torch.Generator) -> torch.Tensor:
    """DeepCluster's sampler: `num_samples` indices spread uniformly over the non-empty pseudo-labels.

    Each of the k non-empty labels gets floor(num_samples / k) + 1 draws, without replacement when it has
    that many samples and with replacement otherwise; the draws are shuffled. Labels below 0 (unassigned)
    are ignored. The reference cuts the shuffled draws' tail to `num_samples`, so one label may lose up to
    k draws; we drop one draw from each of that many distinct labels instead, which keeps every label's
    count within 1 of the others (reference-methods.md, section 4; py3 port's empty-cluster crash: issue #43).

    Args:
        labels: Pseudo-label per sample. Shape: (N,).
        num_samples: Indices to return (DeepCluster: reassign x N).
        generator: Seeded generator (e.g. `TrainState.generator`); may live on the training device.

    Returns:
        Sample indices, int64, on the CPU. Shape: (num_samples,).

    Raises:
        ValueError: When `num_samples` is negative or no sample has a label >= 0.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    valid = (labels >= 0).nonzero().squeeze(1)
    if len(valid) == 0:
        raise ValueError("uniform_label_order needs at least one sample with a label >= 0")
    sorted_labels, order = torch.sort(labels[valid], stable=True)
    counts = torch.unique_consecutive(sorted_labels, return_counts=True)[1]
    members = torch.split(valid[order], counts.tolist())  # one index tensor per non-empty label
    per_label = num_samples // len(members) + 1
    draws = [_draw(idx, per_label, generator) for idx in members]
    excess = len(members) * per_label - num_samples  # 1 <= excess <= k
    for i in _randperm(len(members), generator)[:excess].tolist():
        draws[i] = draws[i][:-1]
    result = torch.cat(draws)
    return result[_randperm(len(result), generator)]


def _randperm(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).cpu()


def _draw(indices: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """`size` of `indices`, without replacement when there are enough of them."""
    if len(indices) >= size:
        return indices[_randperm(len(indices), generator)[:size]]
    pick = torch.randint(len(indices), (size,), generator=generator, device=generator.device).cpu()
    return indices[pick]


class EpochBatches:
    """Yields `make_batch(order[i * batch_size:(i + 1) * batch_size])` for each mini-batch of one epoch.

    `EpochBatches(random_order(num_samples, epoch, seed), batch_size, make_batch)` is a shuffled epoch;
    `uniform_label_order` gives DeepCluster's label-balanced one. Under several processes every rank builds the
    same `order` and takes its equal slice of each global batch, so the ranks' batches concatenated in rank
    order are the single-process batch, and every rank runs the same number of steps (a last incomplete
    global batch is dropped).

    Args:
        order: Sample indices of the epoch, in order, the same on every rank. Shape: (M,).
        batch_size: Samples per global batch (clamped to M), a multiple of `world_size`.
        make_batch: Turns an index tensor (batch_size / world_size,) into the batch dict the method expects.
        drop_last: Drop the last incomplete batch (contrastive losses want full batches); always dropped when
            `world_size` > 1.
        rank: This process's rank (`Runtime.rank`).
        world_size: The number of processes (`Runtime.world_size`).

    Raises:
        ValueError: When the (clamped) batch size is not a multiple of `world_size`.
    """

    def __init__(self, order: torch.Tensor, batch_size: int,
                 make_batch: Callable[[torch.Tensor], dict[str, torch.Tensor]], drop_last: bool = True,
                 rank: int = 0, world_size: int = 1) -> None:
        self.order = order
        used = len(order)
        self.global_batch_size = max(1, min(batch_size, used))
        if self.global_batch_size % world_size:
            raise ValueError(f"batch_size {self.global_batch_size} is not a multiple of the {world_size} processes")
        self.batch_size = self.global_batch_size // world_size  # this rank's share
        self.rank = rank
        self.make_batch = make_batch
        drop_last = drop_last or world_size > 1
        self.num_batches = used // self.global_batch_size if drop_last else -(-used // self.global_batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for i in range(self.num_batches):
            start = i * self.global_batch_size + self.rank * self.batch_size
            yield self.make_batch(self.order[start:start + self.batch_size])

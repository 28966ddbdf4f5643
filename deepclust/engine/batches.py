"""Batches from in-memory uint8 arrays: a seeded permutation per epoch, so a resumed epoch sees the same order."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch


class EpochBatches:
    """Yields `make_batch(indices)` for each shuffled mini-batch of one epoch.

    Args:
        num_samples: Data set size.
        batch_size: Samples per batch (clamped to `num_samples`).
        epoch: Epoch number (part of the permutation seed).
        seed: Base seed.
        make_batch: Turns an index tensor (batch_size,) into the batch dict the method expects.
        drop_last: Drop the last incomplete batch (contrastive losses want full batches).
        samples_per_epoch: Use only the first this-many samples of each epoch's permutation (a CPU budget
            on a large data set: every epoch sees a different random subset); None uses all.
    """

    def __init__(self, num_samples: int, batch_size: int, epoch: int, seed: int,
                 make_batch: Callable[[torch.Tensor], dict[str, torch.Tensor]], drop_last: bool = True,
                 samples_per_epoch: int | None = None) -> None:
        g = torch.Generator().manual_seed(hash((seed, epoch)) & 0x7FFF_FFFF)
        self.order = torch.randperm(num_samples, generator=g)[:samples_per_epoch]
        used = len(self.order)
        self.batch_size = max(1, min(batch_size, used))
        self.make_batch = make_batch
        self.num_batches = used // self.batch_size if drop_last else -(-used // self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for i in range(self.num_batches):
            yield self.make_batch(self.order[i * self.batch_size:(i + 1) * self.batch_size])

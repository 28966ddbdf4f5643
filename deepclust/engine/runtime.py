"""The runtime: device, autocast dtype, seeding and rank, picked once and passed explicitly."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Runtime:
    """Where and how training runs. Only the engine reads it; methods and losses never pick a device.

    Args:
        device: The training device.
        amp_dtype: Autocast dtype (bf16 on GPU), or None for full fp32 (the CPU default).
        seed: Base seed for every generator.
        rank: Process rank (0 when not distributed).
        world_size: Number of processes (1 when not distributed).
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    seed: int
    rank: int = 0
    world_size: int = 1

    @classmethod
    def auto(cls, seed: int = 0, device: str = "auto", amp: bool = True) -> Runtime:
        """Picks CUDA when available (bf16 autocast if `amp`), else CPU in fp32; honours torchrun's env."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        rank = int(os.environ.get("RANK", 0))
        world_size = int(os.environ.get("WORLD_SIZE", 1))
        if dev.type == "cuda" and world_size > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        amp_dtype = torch.bfloat16 if (amp and dev.type == "cuda") else None
        return cls(dev, amp_dtype, seed, rank, world_size)

    @property
    def is_main(self) -> bool:
        """True on the process that writes files and logs."""
        return self.rank == 0

    def seed_everything(self) -> None:
        """Seeds Python, NumPy and torch; makes CPU runs bit-identical for the same seed."""
        random.seed(self.seed)
        np.random.seed(self.seed % 2**32)
        torch.manual_seed(self.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def generator(self, offset: int = 0, per_rank: bool = False) -> torch.Generator:
        """A generator on the training device, seeded with `seed + offset` (augmentations draw from it).

        With `per_rank`, ranks other than 0 get their own stream (each rank augments different images, so
        their draws should differ); rank 0's is the single-process one.
        """
        g = torch.Generator(device=self.device)
        if per_rank and self.rank:
            g.manual_seed(hash((self.seed, offset, self.rank)) & 0x7FFF_FFFF_FFFF)
        else:
            g.manual_seed(self.seed * 1_000_003 + offset)
        return g

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the forward pass (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

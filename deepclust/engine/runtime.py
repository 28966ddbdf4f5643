"""The runtime: device, autocast dtype, seeding and rank, picked once and passed explicitly."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from deepclust.errors import DeepclustError


@dataclass(frozen=True)
class Runtime:
    """Where and how training runs. Only the engine reads it; methods and losses never pick a device.

    Args:
        device: The training device.
        amp_dtype: Autocast dtype (bf16 on GPU), or None for full fp32 (the CPU default; `DEEPCLUST_AMP=bf16`
            turns bf16 autocast on for a CPU with native bf16, see `autocast_dtype`).
        seed: Base seed for every generator.
        rank: Process rank (0 when not distributed).
        world_size: Number of processes (1 when not distributed).
        channels_last: Train convolutions in NHWC memory order (tensor cores want it; the GPU default).
        compile_backend: `torch.compile` backend for the backbone ("inductor", or "eager" to check the
            wiring without a compiler), or None to run eagerly (the default).
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    seed: int
    rank: int = 0
    world_size: int = 1
    channels_last: bool = False
    compile_backend: str | None = None

    @classmethod
    def auto(cls, seed: int = 0, device: str = "auto", amp: bool = True) -> Runtime:
        """Picks CUDA when available (bf16 autocast if `amp`, channels_last), else CPU in fp32; honours
        torchrun's env, `DEEPCLUST_AMP` (bf16/fp32), `DEEPCLUST_CHANNELS_LAST` (0/1) and `DEEPCLUST_COMPILE`
        (a torch.compile backend)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        rank = int(os.environ.get("RANK", 0))
        world_size = int(os.environ.get("WORLD_SIZE", 1))
        if dev.type == "cuda" and world_size > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        amp_dtype = autocast_dtype(dev.type, os.environ) if amp else None
        channels_last, compile_backend = speed_options(dev.type, os.environ)
        keep_freed_memory(os.environ)
        return cls(dev, amp_dtype, seed, rank, world_size, channels_last, compile_backend)

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

    def prepare_model(self, model: torch.nn.Module) -> None:
        """Applies the speed options in place: NHWC conv weights (activations follow them), and an in-place
        `torch.compile` of every backbone (a module built by `build_backbone`), so state-dict keys and
        checkpoints are unchanged."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.compile_backend is not None:
            for module in _outermost_backbones(model):
                module.compile(backend=self.compile_backend)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the forward pass (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)


# glibc's mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD (its maximum, 32 MB).
_MALLOPT = ((-3, 32 << 20), (-1, 1 << 30), (-2, 64 << 20))


def keep_freed_memory(env: Mapping[str, str]) -> bool:
    """Make glibc keep freed tensor buffers for reuse instead of handing them back to the kernel.

    By default glibc maps blocks above a moving threshold (128 KB to 32 MB) afresh and trims the top of the
    heap, so the 1-6 MB temporaries of a batched augmentation page-fault again on every use: on a 2-core CPU
    half the transform's time on long runs (docs/speed.md). Fixed thresholds (map only above 32 MB, trim only
    above 1 GB, 64 MB of top padding) keep them; the price is up to ~1 GB of freed memory held by the process.
    Allocation never changes arithmetic (torch aligns every buffer to 64 bytes either way).

    Args:
        env: Environment; `DEEPCLUST_MALLOC_TUNING=0` leaves glibc's defaults.

    Returns:
        True when the options were set; False when opted out or not on glibc.
    """
    if env.get("DEEPCLUST_MALLOC_TUNING", "").strip() == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    return all(mallopt(param, value) == 1 for param, value in _MALLOPT)


def _outermost_backbones(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Modules with an `arch` and an `output_dim` (backbones, autoencoders), none inside another one."""
    chosen: list[str] = []
    found = []
    for name, module in model.named_modules():
        inside = any(c == "" or name.startswith(f"{c}.") for c in chosen)
        if hasattr(module, "arch") and hasattr(module, "output_dim") and not inside:
            chosen.append(name)
            found.append(module)
    return found


def autocast_dtype(device_type: str, env: Mapping[str, str]) -> torch.dtype | None:
    """The forward pass's autocast dtype: bf16 on CUDA, fp32 (None) on the CPU, unless `DEEPCLUST_AMP` says
    `bf16` or `fp32`. The CPU presets were timed and benchmarked in fp32, so bf16 there is opt-in: on a CPU with
    AMX (Intel Xeon 4th generation and later) bf16 autocast with channels_last trains the CIFAR small CNN about
    twice as fast (docs/speed.md); without native bf16 it is slower, hence the check."""
    flag = env.get("DEEPCLUST_AMP", "").strip().lower()
    if flag not in ("", "bf16", "fp32"):
        raise DeepclustError(f"DEEPCLUST_AMP must be bf16 or fp32, got {flag!r}")
    if flag == "fp32" or (flag == "" and device_type != "cuda"):
        return None
    if device_type == "cpu" and not cpu_has_native_bf16():
        raise DeepclustError("DEEPCLUST_AMP=bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 "
                             "autocast is slower than fp32; unset DEEPCLUST_AMP")
    return torch.bfloat16


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX; x86 Linux reports them in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def speed_options(device_type: str, env: Mapping[str, str]) -> tuple[bool, str | None]:
    """(channels_last, compile backend) for a device: channels_last on CUDA unless `DEEPCLUST_CHANNELS_LAST=0`
    (on the CPU only with `=1`: the CPU presets were timed in NCHW), no compile unless `DEEPCLUST_COMPILE`
    names a backend (compiling costs time up front, and inductor needs a C++ compiler on the CPU)."""
    flag = env.get("DEEPCLUST_CHANNELS_LAST", "").strip()
    if flag not in ("", "0", "1"):
        raise DeepclustError(f"DEEPCLUST_CHANNELS_LAST must be 0 or 1, got {flag!r}")
    channels_last = device_type == "cuda" if flag == "" else flag == "1"
    backend = env.get("DEEPCLUST_COMPILE", "").strip() or None
    if backend is not None and backend not in ("inductor", "eager", "aot_eager", "cudagraphs"):
        raise DeepclustError(f"DEEPCLUST_COMPILE must be a torch.compile backend (inductor, eager, aot_eager, "
                             f"cudagraphs), got {backend!r}")
    return channels_last, backend

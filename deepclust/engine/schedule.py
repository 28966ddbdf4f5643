"""Schedules precomputed per iteration, so a resumed run sees exactly the values it would have seen."""

from __future__ import annotations

import numpy as np


def cosine_schedule(
    base_value: float, final_value: float, epochs: int, iters_per_epoch: int, per_step: bool = True
) -> np.ndarray:
    """Cosine decay from `base_value` to `final_value`, one value per iteration (dino's cosine_scheduler).

    With `per_step=False` the value changes once per epoch, as SCAN's SimCLR schedule does:
    lr(e) = final + (base - final) * (1 + cos(pi * e / epochs)) / 2.

    Returns:
        Array of shape (epochs * iters_per_epoch,).
    """
    if per_step:
        t = np.arange(epochs * iters_per_epoch) / max(epochs * iters_per_epoch, 1)
    else:
        t = np.repeat(np.arange(epochs) / max(epochs, 1), iters_per_epoch)
    return final_value + (base_value - final_value) * (1 + np.cos(np.pi * t)) / 2


def constant_schedule(value: float, epochs: int, iters_per_epoch: int) -> np.ndarray:
    """A constant value per iteration (SCAN and self-labelling use a constant Adam lr)."""
    return np.full(epochs * iters_per_epoch, value, dtype=np.float64)


def step_schedule(value: float, epochs: int, iters_per_epoch: int, milestones: list[int] | tuple[int, ...] = (),
                  gamma: float = 0.1) -> np.ndarray:
    """`value`, multiplied by `gamma` at each milestone epoch (IDFD: x0.1 at 600, 950, 1300, 1650 of 2000)."""
    drops = np.searchsorted(np.sort(np.asarray(milestones)), np.arange(epochs), side="right")
    return np.repeat(value * gamma ** drops, iters_per_epoch).astype(np.float64)


def named_schedule(name: str, value: float, epochs: int, iters_per_epoch: int) -> np.ndarray:
    """The schedule a preset names: "constant" at `value`, or "cosine" from `value` to 0 per step."""
    if name == "constant":
        return constant_schedule(value, epochs, iters_per_epoch)
    if name == "cosine":
        return cosine_schedule(value, 0.0, epochs, iters_per_epoch, True)
    raise ValueError(f"unknown learning-rate schedule {name!r}; use 'constant' or 'cosine'")

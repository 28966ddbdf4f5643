"""Schedules: one value per iteration; cosine endpoints and the per-epoch (SCAN) variant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deepclust.engine import constant_schedule, cosine_schedule, named_schedule


@pytest.mark.parametrize(("epochs", "iters"), [(1, 1), (3, 4), (10, 7)])
def test_cosine_per_step(epochs: int, iters: int) -> None:
    s = cosine_schedule(0.4, 0.0004, epochs, iters)
    n = epochs * iters
    assert s.shape == (n,)
    assert s[0] == pytest.approx(0.4)
    assert np.all(np.diff(s) <= 1e-12)
    assert s.min() >= 0.0004 - 1e-12
    # the value at step i is final + (base - final) * (1 + cos(pi * i / n)) / 2
    i = n - 1
    assert s[i] == pytest.approx(0.0004 + (0.4 - 0.0004) * (1 + math.cos(math.pi * i / n)) / 2)


def test_cosine_halfway_and_near_end() -> None:
    s = cosine_schedule(1.0, 0.0, 10, 100)
    assert s[500] == pytest.approx(0.5)  # cos(pi/2) = 0
    assert s[-1] == pytest.approx(0.0, abs=1e-4)  # (1 + cos(pi * 999/1000)) / 2 = 2.5e-6


@pytest.mark.parametrize(("epochs", "iters"), [(4, 3), (5, 1)])
def test_cosine_per_epoch(epochs: int, iters: int) -> None:
    s = cosine_schedule(0.4, 0.0004, epochs, iters, per_step=False)
    assert s.shape == (epochs * iters,)
    per_epoch = s.reshape(epochs, iters)
    assert np.all(per_epoch == per_epoch[:, :1])  # constant within an epoch
    for e in range(epochs):  # lr(e) = final + (base - final) * (1 + cos(pi * e / epochs)) / 2
        assert per_epoch[e, 0] == pytest.approx(0.0004 + 0.3996 * (1 + math.cos(math.pi * e / epochs)) / 2)
    assert per_epoch[0, 0] == pytest.approx(0.4)


def test_cosine_increasing_when_final_above_base() -> None:
    s = cosine_schedule(0.0, 1.0, 2, 5)  # e.g. a momentum or weight-decay ramp
    assert s[0] == 0.0 and np.all(np.diff(s) >= 0)


def test_constant() -> None:
    s = constant_schedule(1e-4, 3, 5)
    assert s.shape == (15,) and s.dtype == np.float64 and np.all(s == 1e-4)


def test_a_named_schedule_is_the_constant_or_the_per_step_cosine_to_zero() -> None:
    assert np.array_equal(named_schedule("constant", 1e-3, 3, 5), constant_schedule(1e-3, 3, 5))
    assert np.array_equal(named_schedule("cosine", 1e-3, 3, 5), cosine_schedule(1e-3, 0.0, 3, 5, True))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        named_schedule("step", 1e-3, 3, 5)

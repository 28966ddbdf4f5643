"""Self-labelling's two guards: the adapted threshold and stepping aside when the result is worse."""

from __future__ import annotations

import numpy as np
import torch

from deepclust.methods import adapted_threshold, keep_self_labelled


def _probs(confidence: np.ndarray, k: int = 4) -> np.ndarray:
    """Rows with CONFIDENCE on cluster i % k and the rest spread evenly."""
    n = len(confidence)
    probs = np.tile(((1 - confidence) / (k - 1))[:, None], (1, k))
    probs[np.arange(n), np.arange(n) % k] = confidence
    return probs.astype(np.float32)


def test_threshold_stays_when_enough_samples_pass() -> None:
    probs = torch.from_numpy(_probs(np.r_[np.full(50, 0.995), np.full(50, 0.5)]))
    assert adapted_threshold(probs, 0.99, 0.1) == 0.99


def test_threshold_drops_to_the_fraction_asked_and_never_below_chance() -> None:
    confidence = np.linspace(0.3, 0.9, 1000)
    probs = torch.from_numpy(_probs(confidence))
    used = adapted_threshold(probs, 0.99, 0.2)
    assert used < 0.99
    assert abs(float((probs.max(1).values > used).float().mean()) - 0.2) < 0.01
    flat = torch.full((100, 4), 0.25)
    assert adapted_threshold(flat, 0.99, 0.2) > 0.25
    assert adapted_threshold(probs, 0.99, 0.0) == 0.99


def test_keeps_a_result_that_agrees_better_with_the_neighbours() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    neighbours = np.stack([np.arange(200)] + [rng.permutation(50)[np.arange(200) % 50] + 50 * labels
                                              for _ in range(5)], 1)
    soft = np.full((200, 4), 0.1, np.float32)
    soft[np.arange(200), labels] = 0.7
    sharp = np.full((200, 4), 0.01, np.float32)
    sharp[np.arange(200), labels] = 0.97
    keep, reason = keep_self_labelled(soft, sharp, neighbours)
    assert keep, reason
    keep, reason = keep_self_labelled(sharp, soft, neighbours)
    assert not keep and "rose" in reason


def test_steps_aside_when_the_result_collapses() -> None:
    labels = np.repeat(np.arange(4), 50)
    before = np.eye(4, dtype=np.float32)[labels] * 0.9 + 0.025
    after = np.tile(np.array([[0.97, 0.01, 0.01, 0.01]], np.float32), (200, 1))
    keep, reason = keep_self_labelled(before, after, None)
    assert not keep and "collapsed" in reason
    assert keep_self_labelled(before, before, None)[0]

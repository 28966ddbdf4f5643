"""PCL's concentration phi, ProtoNCE and MoCo's InfoNCE against hand-computed values and slow references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepclust.losses.proto_nce_loss import ProtoNCELoss, concentration, info_nce


def test_concentration_hand_computed() -> None:
    # Two clusters: distances (1, 3) in cluster 0, (2, 2, 2) in cluster 1.
    distances = np.array([1.0, 3.0, 2.0, 2.0, 2.0])
    assignments = np.array([0, 0, 1, 1, 1])
    raw = np.array([4.0 / (2 * math.log(12)), 6.0 / (3 * math.log(13))])
    lo, hi = np.percentile(raw, [10, 90])  # with two clusters the clip moves both values inwards
    expected = np.clip(raw, lo, hi)
    expected = expected * 0.2 / expected.mean()
    phi = concentration(distances, assignments, 2, alpha=10, temperature=0.2)
    assert phi == pytest.approx(expected, rel=1e-6)
    assert phi.mean() == pytest.approx(0.2, rel=1e-6)


def test_concentration_singletons_get_the_largest_phi_and_clipping_applies() -> None:
    rng = np.random.default_rng(0)
    k = 12
    assignments = np.concatenate([np.repeat(np.arange(10), 5), [10]])  # cluster 10 is a singleton, 11 empty
    distances = rng.uniform(0.1, 1.0, len(assignments))
    phi = concentration(distances, assignments, k, temperature=0.1)
    counts = np.bincount(assignments, minlength=k)
    sums = np.bincount(assignments, weights=distances, minlength=k)
    raw = np.where(counts > 1, sums / (np.maximum(counts, 1) * np.log(counts + 10)), 0.0)
    raw[counts <= 1] = raw[counts > 1].max()
    clipped = np.clip(raw, *np.percentile(raw, [10, 90]))
    assert phi == pytest.approx(clipped * 0.1 / clipped.mean(), rel=1e-5)
    assert phi[10] == phi[11] == phi.max()


def test_proto_nce_matches_a_slow_reference() -> None:
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(6, 4, generator=g), dim=1)
    protos = [F.normalize(torch.randn(k, 4, generator=g), dim=1) for k in (3, 5)]
    phis = [torch.rand(k, generator=g) + 0.1 for k in (3, 5)]
    targets = [torch.randint(k, (6,), generator=g) for k in (3, 5)]
    total = 0.0
    for c, phi, t in zip(protos, phis, targets, strict=True):
        per_sample = []
        for i in range(6):
            logits = [float(q[i] @ c[j] / phi[j]) for j in range(len(c))]
            per_sample.append(-(logits[int(t[i])] - math.log(sum(math.exp(v) for v in logits))))
        total += sum(per_sample) / 6
    assert ProtoNCELoss()(q, protos, phis, targets).item() == pytest.approx(total / 2, rel=1e-5)


def test_info_nce_hand_computed() -> None:
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    tau = 0.5
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.0) + math.exp(-2.0)))
    assert info_nce(q, k, queue, tau).item() == pytest.approx(expected, rel=1e-6)

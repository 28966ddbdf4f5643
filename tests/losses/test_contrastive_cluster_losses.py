"""CC, DCDC, IIC and IDFD losses: hand-computed values on tiny inputs, slow reference loops, invariances."""

from __future__ import annotations

import math
import sys

import pytest
import torch
import torch.nn.functional as F

from deepclust.losses import (
    ClusterContrastiveLoss,
    DCDCLoss,
    IDFDLoss,
    IICLoss,
    balance_loss,
    feature_decorrelation,
    instance_discrimination,
)


def _probs(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)).softmax(1)


# --- CC -----------------------------------------------------------------------------------------------------

def test_balance_loss_hand_computed() -> None:
    assert balance_loss(torch.full((4, 5), 0.2)).item() == pytest.approx(0.0, abs=1e-6)
    # everything in cluster 0 of 2: p = (1, 0): log 2 + 1 log 1 + 0 = log 2
    assert balance_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]])).item() == pytest.approx(math.log(2), abs=1e-6)
    # p = (0.75, 0.25)
    expected = math.log(2) + 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    assert balance_loss(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).item() == pytest.approx(expected, abs=1e-6)


def test_cluster_contrastive_loss_hand_computed() -> None:
    # Both views one-hot and balanced: column a_k matches b_k (cos 1), the other two columns are orthogonal
    # (cos 0): each of the 4 anchors has l = -log(e / (e + 2)); balance 0.
    y = torch.eye(2)
    assert ClusterContrastiveLoss(1.0)(y, y).item() == pytest.approx(math.log((math.e + 2) / math.e), abs=1e-6)


def _slow_cc(ya: torch.Tensor, yb: torch.Tensor, tau: float) -> float:
    cols = [c / c.norm() for c in torch.cat([ya.T, yb.T])]
    k, total = ya.shape[1], 0.0
    for i, anchor in enumerate(cols):
        pos = (i + k) % (2 * k)
        den = sum(math.exp(float(anchor @ c) / tau) for j, c in enumerate(cols) if j != i)
        total += -math.log(math.exp(float(anchor @ cols[pos]) / tau) / den)
    ne = 0.0
    for y in (ya, yb):
        p = y.sum(0) / y.sum()
        ne += math.log(k) + float((p * p.log()).sum())
    return total / (2 * k) + ne


def test_cluster_contrastive_loss_matches_a_slow_loop() -> None:
    ya, yb = _probs(16, 5, 0), _probs(16, 5, 1)
    for tau in (1.0, 0.5):
        assert ClusterContrastiveLoss(tau)(ya, yb).item() == pytest.approx(_slow_cc(ya, yb, tau), rel=1e-5)


def test_cluster_contrastive_loss_is_unchanged_by_permuting_clusters_in_both_views() -> None:
    ya, yb, perm = _probs(32, 6, 2), _probs(32, 6, 3), torch.randperm(6, generator=torch.Generator().manual_seed(0))
    loss = ClusterContrastiveLoss()
    assert loss(ya[:, perm], yb[:, perm]).item() == pytest.approx(loss(ya, yb).item(), abs=1e-6)


# --- DCDC ---------------------------------------------------------------------------------------------------

def test_dcdc_loss_hand_computed() -> None:
    # X = X~ = I (B = K = 2), tau 0.5: S = C = 2 I, so each CE row is -log(e^2 / (e^2 + 1)); balance 0.
    x = torch.eye(2)
    assert DCDCLoss(0.5)(x, x).item() == pytest.approx(2 * math.log(1 + math.exp(-2)), abs=1e-6)


def _slow_dcdc(x: torch.Tensor, xa: torch.Tensor, tau: float) -> float:
    def ce(rows_a: list[torch.Tensor], rows_b: list[torch.Tensor]) -> float:
        out = 0.0
        for i, a in enumerate(rows_a):
            logits = [float(a @ b) / tau for b in rows_b]
            out += -logits[i] + math.log(sum(math.exp(v) for v in logits))
        return out / len(rows_a)

    sample = ce([r / r.norm() for r in x], [r / r.norm() for r in xa])
    cls = ce([c / c.norm() for c in x.T], [c / c.norm() for c in xa.T])
    p = x.sum(0) / x.sum()
    return sample + cls + math.log(x.shape[1]) + float((p * p.log()).sum())


def test_dcdc_loss_matches_a_slow_loop_and_is_permutation_invariant() -> None:
    x, xa = _probs(12, 4, 4), _probs(12, 4, 5)
    assert DCDCLoss(0.5)(x, xa).item() == pytest.approx(_slow_dcdc(x, xa, 0.5), rel=1e-5)
    perm = torch.tensor([2, 0, 3, 1])
    assert DCDCLoss()(x[:, perm], xa[:, perm]).item() == pytest.approx(DCDCLoss()(x, xa).item(), abs=1e-6)


def test_dcdc_loss_rejects_mismatched_views() -> None:
    with pytest.raises(ValueError, match="one shape"):
        DCDCLoss()(torch.rand(4, 3), torch.rand(4, 2))


# --- IIC ----------------------------------------------------------------------------------------------------

def test_iic_loss_is_minus_the_mutual_information_of_perfect_pairs() -> None:
    z = torch.eye(2).repeat(3, 1)  # balanced, both views agree: P = diag(1/2, 1/2), I = log 2
    assert IICLoss()(z, z).item() == pytest.approx(-math.log(2), abs=1e-6)


def test_iic_loss_is_zero_for_independent_uniform_assignments() -> None:
    z = torch.full((5, 4), 0.25)
    assert IICLoss()(z, z).item() == pytest.approx(0.0, abs=1e-6)


def _slow_iic(za: torch.Tensor, zb: torch.Tensor, lamb: float) -> float:
    k, n = za.shape[1], len(za)
    p = [[sum(float(za[i, a] * zb[i, b]) for i in range(n)) / n for b in range(k)] for a in range(k)]
    p = [[(p[a][b] + p[b][a]) / 2 for b in range(k)] for a in range(k)]
    total = sum(map(sum, p))
    p = [[v / total for v in row] for row in p]
    pi = [sum(p[a]) for a in range(k)]
    pj = [sum(p[a][b] for a in range(k)) for b in range(k)]
    eps = sys.float_info.epsilon
    return -sum(max(p[a][b], eps) * (math.log(max(p[a][b], eps)) - lamb * math.log(max(pi[a], eps))
                                     - lamb * math.log(max(pj[b], eps))) for a in range(k) for b in range(k))


@pytest.mark.parametrize("lamb", [1.0, 1.5])
def test_iic_loss_matches_a_slow_loop(lamb: float) -> None:
    za, zb = _probs(20, 3, 6), _probs(20, 3, 7)
    assert IICLoss(lamb)(za, zb).item() == pytest.approx(_slow_iic(za, zb, lamb), rel=1e-5, abs=1e-7)


def test_iic_loss_is_symmetric_in_its_two_views() -> None:
    za, zb = _probs(30, 5, 8), _probs(30, 5, 9)
    assert IICLoss()(za, zb).item() == pytest.approx(IICLoss()(zb, za).item(), abs=1e-7)


# --- IDFD ---------------------------------------------------------------------------------------------------

def test_instance_discrimination_matches_a_slow_softmax_over_the_bank() -> None:
    g = torch.Generator().manual_seed(10)
    f, bank, index = F.normalize(torch.randn(3, 4, generator=g), dim=1), torch.randn(7, 4, generator=g), \
        torch.tensor([0, 5, 2])
    slow = 0.0
    for row, i in zip(f, index.tolist(), strict=True):
        logits = [float(row @ v) / 0.5 for v in bank]
        slow += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    assert instance_discrimination(f, bank, index, 0.5).item() == pytest.approx(slow / 3, rel=1e-5)


def test_feature_decorrelation_hand_computed() -> None:
    # Columns of I (B = d = 2) are orthonormal: logits I / 2, each row's CE is log(1 + e^-0.5).
    assert feature_decorrelation(torch.eye(2), 2.0).item() == pytest.approx(math.log(1 + math.exp(-0.5)), abs=1e-6)
    # Two identical columns cannot be told apart: each row is log 2 whatever tau2.
    same = torch.tensor([[1.0, 1.0], [2.0, 2.0], [0.5, 0.5]])
    assert feature_decorrelation(same, 2.0).item() == pytest.approx(math.log(2), abs=1e-6)


def test_idfd_loss_is_instance_plus_alpha_decorrelation() -> None:
    f, bank, index = F.normalize(torch.randn(4, 3), dim=1), torch.randn(9, 3), torch.tensor([1, 2, 3, 4])
    total, inst, decor = IDFDLoss(1.0, 2.0, alpha=0.5)(f, bank, index)
    assert total.item() == pytest.approx(inst.item() + 0.5 * decor.item(), abs=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        IDFDLoss(temperature=0.0)

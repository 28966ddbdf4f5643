"""DEC's Student-t assignment, target distribution and KL loss against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from deepclust.losses.dec_loss import DECLoss, student_t_assignment, target_distribution


def test_student_t_assignment_hand_computed() -> None:
    # z = 0; centroids at distance 1 and 2: kernels 1/(1+1) = 0.5 and 1/(1+4) = 0.2 -> q = 5/7, 2/7.
    q = student_t_assignment(torch.zeros(1, 2), torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    assert q.tolist()[0] == pytest.approx([5 / 7, 2 / 7], abs=1e-6)


def test_student_t_assignment_other_alpha_matches_the_formula() -> None:
    z, mu, alpha = torch.randn(5, 3), torch.randn(4, 3), 2.5
    sq = ((z[:, None] - mu[None]) ** 2).sum(-1)
    kernel = (1 + sq / alpha) ** (-(alpha + 1) / 2)
    expected = kernel / kernel.sum(1, keepdim=True)
    assert torch.allclose(student_t_assignment(z, mu, alpha), expected, atol=1e-6)


def test_student_t_assignment_far_points_stay_finite() -> None:
    q = student_t_assignment(torch.full((2, 2), 1e6), torch.zeros(3, 2))
    assert torch.isfinite(q).all() and torch.allclose(q.sum(1), torch.ones(2))


def test_target_distribution_hand_computed() -> None:
    q = torch.tensor([[0.8, 0.2], [0.4, 0.6]])
    # cluster frequencies f = q.sum(0) = (1.2, 0.8)
    row0 = torch.tensor([0.64 / 1.2, 0.04 / 0.8])
    row1 = torch.tensor([0.16 / 1.2, 0.36 / 0.8])
    expected = torch.stack([row0 / row0.sum(), row1 / row1.sum()])
    p = target_distribution(q)
    assert torch.allclose(p, expected, atol=1e-6)
    assert p[0, 0] > q[0, 0] and p[1, 1] > q[1, 1]  # sharper than q


def test_dec_loss_is_kl_summed_over_clusters_averaged_over_batch() -> None:
    q = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    kl0 = 1.0 * math.log(1.0 / 0.5)
    kl1 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert DECLoss()(q, p).item() == pytest.approx((kl0 + kl1) / 2, abs=1e-6)
    assert DECLoss()(q, q).item() == pytest.approx(0.0, abs=1e-7)


def test_dec_loss_gradient_pulls_q_towards_p() -> None:
    z = torch.tensor([[0.4, 0.0]], requires_grad=True)
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    q = student_t_assignment(z, mu)
    DECLoss()(q, torch.tensor([[1.0, 0.0]])).backward()
    assert z.grad is not None and z.grad[0, 0] > 0  # descending moves z towards centroid 0

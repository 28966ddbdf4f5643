import math

import pytest
import torch

from deepclust.losses import NTXentLoss


def _ntxent_manual(z0: torch.Tensor, z1: torch.Tensor, temperature: float, symmetric: bool) -> float:
    """Slow NT-Xent written from SimCLR Eq. 1, one anchor at a time, in float64."""
    z0 = z0.double() / z0.double().norm(dim=1, keepdim=True)
    z1 = z1.double() / z1.double().norm(dim=1, keepdim=True)
    batch_size = z0.shape[0]
    candidates = torch.cat([z0, z1])
    anchors = range(2 * batch_size) if symmetric else range(batch_size)
    losses = []
    for j in anchors:
        positive = j + batch_size if j < batch_size else j - batch_size
        numerator = math.exp(float(candidates[j] @ candidates[positive]) / temperature)
        denominator = sum(
            math.exp(float(candidates[j] @ candidates[k]) / temperature)
            for k in range(2 * batch_size)
            if k != j
        )
        losses.append(-math.log(numerator / denominator))
    return sum(losses) / len(losses)


class TestNTXentLoss:
    @pytest.mark.parametrize("symmetric", [True, False])
    def test_hand_computed_aligned(self, symmetric: bool) -> None:
        # z0 = z1 = [e1, e2], t = 1, so c = [e1, e2, e1, e2].
        # Anchor e1: positive similarity 1; denominator over k != j: e^0 + e^1 + e^0 = 2 + e.
        # l = -log(e / (2 + e)) = log(2 + e) - 1 = log(4.718282) - 1 = 0.551444 for every anchor.
        z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        loss = NTXentLoss(temperature=1.0, symmetric=symmetric)(z, z.clone())
        assert loss.item() == pytest.approx(0.551444, abs=1e-6)

    def test_hand_computed_temperature(self) -> None:
        # Same input, t = 0.5: similarities / t are 2 (positive), 0, 0.
        # l = -log(e^2 / (2 + e^2)) = log(9.389056) - 2 = 2.239545 - 2 = 0.239545.
        z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        loss = NTXentLoss(temperature=0.5)(z, z.clone())
        assert loss.item() == pytest.approx(0.239545, abs=1e-6)

    def test_hand_computed_orthogonal_positives(self) -> None:
        # z0 = [e1, e2], z1 = [e2, e1], t = 1: c = [e1, e2, e2, e1].
        # Anchor 0 (e1): positive c2 = e2, similarity 0; denominator e^0 + e^0 + e^1 = 2 + e.
        # l = -log(1 / (2 + e)) = log(4.718282) = 1.551444, the same for every anchor.
        z0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        z1 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        loss = NTXentLoss(temperature=1.0)(z0, z1)
        assert loss.item() == pytest.approx(1.551444, abs=1e-6)

    @pytest.mark.parametrize("batch_size", [1, 2, 7])
    @pytest.mark.parametrize("dim", [2, 16])
    @pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
    @pytest.mark.parametrize("symmetric", [True, False])
    def test_matches_manual(self, batch_size: int, dim: int, temperature: float, symmetric: bool) -> None:
        generator = torch.Generator().manual_seed(batch_size * 100 + dim)
        z0 = torch.randn(batch_size, dim, generator=generator)
        z1 = torch.randn(batch_size, dim, generator=generator)
        loss = NTXentLoss(temperature=temperature, symmetric=symmetric)(z0, z1)
        expected = _ntxent_manual(z0, z1, temperature, symmetric)
        assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)

    @pytest.mark.parametrize("batch_size", [1, 2, 8, 33])
    @pytest.mark.parametrize("temperature", [0.1, 1.0])
    @pytest.mark.parametrize("symmetric", [True, False])
    def test_identical_embeddings_give_log_2b_minus_1(
        self, batch_size: int, temperature: float, symmetric: bool
    ) -> None:
        # All 2B similarities equal, so each term is -log(1 / (2B - 1)).
        z = torch.randn(1, 5).repeat(batch_size, 1)
        loss = NTXentLoss(temperature=temperature, symmetric=symmetric)(z, z.clone())
        assert loss.item() == pytest.approx(math.log(2 * batch_size - 1), abs=1e-4)

    @pytest.mark.parametrize("symmetric", [True, False])
    def test_batch_size_one_is_zero(self, symmetric: bool) -> None:
        # The denominator holds only the positive pair.
        loss = NTXentLoss(symmetric=symmetric)(torch.randn(1, 8), torch.randn(1, 8))
        assert loss.item() == pytest.approx(0.0, abs=1e-6)

    def test_symmetric_invariant_to_swapping_views(self) -> None:
        z0, z1 = torch.randn(6, 4), torch.randn(6, 4)
        loss_fn = NTXentLoss(temperature=0.2)
        assert loss_fn(z0, z1).item() == pytest.approx(loss_fn(z1, z0).item(), rel=1e-6)

    def test_asymmetric_depends_on_view_order(self) -> None:
        z0, z1 = torch.randn(6, 4), torch.randn(6, 4)
        loss_fn = NTXentLoss(temperature=0.2, symmetric=False)
        assert loss_fn(z0, z1).item() != pytest.approx(loss_fn(z1, z0).item(), rel=1e-6)

    @pytest.mark.parametrize("symmetric", [True, False])
    def test_invariant_to_batch_permutation_and_scale(self, symmetric: bool) -> None:
        z0, z1 = torch.randn(5, 3), torch.randn(5, 3)
        perm = torch.randperm(5)
        loss_fn = NTXentLoss(temperature=0.3, symmetric=symmetric)
        reference = loss_fn(z0, z1).item()
        assert loss_fn(z0[perm], z1[perm]).item() == pytest.approx(reference, rel=1e-5)
        assert loss_fn(3.0 * z0, 0.5 * z1).item() == pytest.approx(reference, rel=1e-5)

    @pytest.mark.parametrize("symmetric", [True, False])
    def test_gradient_reaches_both_views(self, symmetric: bool) -> None:
        z0 = torch.randn(4, 3, requires_grad=True)
        z1 = torch.randn(4, 3, requires_grad=True)
        NTXentLoss(symmetric=symmetric)(z0, z1).backward()
        assert z0.grad is not None and z0.grad.abs().sum() > 0
        assert z1.grad is not None and z1.grad.abs().sum() > 0

    def test_keeps_dtype(self) -> None:
        z0, z1 = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
        loss = NTXentLoss()(z0, z1)
        assert loss.dtype == torch.float64
        assert loss.item() == pytest.approx(_ntxent_manual(z0, z1, 0.1, True), rel=1e-10)

    @pytest.mark.parametrize("temperature", [0.0, -0.1])
    def test_invalid_temperature(self, temperature: float) -> None:
        with pytest.raises(ValueError, match="temperature"):
            NTXentLoss(temperature=temperature)

    def test_mismatched_shapes(self) -> None:
        with pytest.raises(ValueError, match="z0 and z1"):
            NTXentLoss()(torch.randn(3, 4), torch.randn(2, 4))

import math

import pytest
import torch

from deepclust.losses import SCANLoss, SCANLossComponents, consistency_loss, entropy


def _scan_manual(anchor_logits: torch.Tensor, neighbor_logits: torch.Tensor, entropy_weight: float) -> float:
    """Slow SCAN loss written from arXiv 2005.12320 Eq. 2, sample by sample, in float64."""
    batch_size, num_clusters = anchor_logits.shape
    p = anchor_logits.double().softmax(dim=1).tolist()
    q = neighbor_logits.double().softmax(dim=1).tolist()
    consistency = 0.0
    for i in range(batch_size):
        inner = sum(p[i][c] * q[i][c] for c in range(num_clusters))
        consistency -= math.log(max(inner, 1e-7)) / batch_size
    mean = [sum(p[i][c] for i in range(batch_size)) / batch_size for c in range(num_clusters)]
    ent = -sum(max(m, 1e-8) * math.log(max(m, 1e-8)) for m in mean)
    return consistency - entropy_weight * ent


class TestSCANLoss:
    def test_hand_computed(self) -> None:
        # Anchors p1 = [3/4, 1/4] (logits [ln 3, 0]), p2 = [1/2, 1/2];
        # neighbours q1 = [3/4, 1/4], q2 = [1/4, 3/4].
        # <p1, q1> = 9/16 + 1/16 = 0.625, <p2, q2> = 0.5.
        # consistency = -(ln 0.625 + ln 0.5) / 2 = (0.470004 + 0.693147) / 2 = 0.581575.
        # p_bar = [0.625, 0.375]; H = 0.625 * 0.470004 + 0.375 * 0.980829 = 0.661563.
        # total = 0.581575 - 5 * 0.661563 = -2.726241.
        ln3 = math.log(3.0)
        anchors = torch.tensor([[ln3, 0.0], [0.0, 0.0]])
        neighbors = torch.tensor([[ln3, 0.0], [0.0, ln3]])
        parts = SCANLoss(entropy_weight=5.0).forward_components(anchors, neighbors)
        assert isinstance(parts, SCANLossComponents)
        assert parts.consistency.item() == pytest.approx(0.581575, abs=1e-6)
        assert parts.entropy.item() == pytest.approx(0.661563, abs=1e-6)
        assert parts.total.item() == pytest.approx(-2.726241, abs=1e-5)
        assert SCANLoss(entropy_weight=5.0)(anchors, neighbors).item() == pytest.approx(-2.726241, abs=1e-5)

    @pytest.mark.parametrize("batch_size", [1, 3, 16])
    @pytest.mark.parametrize("num_clusters", [2, 10])
    @pytest.mark.parametrize("entropy_weight", [0.0, 2.0, 5.0])
    def test_matches_manual(self, batch_size: int, num_clusters: int, entropy_weight: float) -> None:
        generator = torch.Generator().manual_seed(batch_size * 100 + num_clusters)
        anchors = 3 * torch.randn(batch_size, num_clusters, generator=generator)
        neighbors = 3 * torch.randn(batch_size, num_clusters, generator=generator)
        loss = SCANLoss(entropy_weight=entropy_weight)(anchors, neighbors)
        assert loss.item() == pytest.approx(
            _scan_manual(anchors, neighbors, entropy_weight), rel=1e-5, abs=1e-5
        )

    @pytest.mark.parametrize("num_clusters", [2, 10, 20])
    def test_uniform_predictions(self, num_clusters: int) -> None:
        # p = q = 1/C: <p, q> = 1/C so consistency = log C, and p_bar = 1/C so H = log C.
        logits = torch.zeros(8, num_clusters)
        parts = SCANLoss(entropy_weight=5.0).forward_components(logits, logits)
        assert parts.consistency.item() == pytest.approx(math.log(num_clusters), abs=1e-5)
        assert parts.entropy.item() == pytest.approx(math.log(num_clusters), abs=1e-5)
        assert parts.total.item() == pytest.approx(-4 * math.log(num_clusters), abs=1e-4)

    @pytest.mark.parametrize("num_clusters", [2, 10])
    def test_confident_agreeing_spread_predictions(self, num_clusters: int) -> None:
        # One-hot predictions covering every cluster once, neighbour = anchor: <p, q> = 1, p_bar = 1/C.
        logits = 100.0 * torch.eye(num_clusters)
        parts = SCANLoss(entropy_weight=5.0).forward_components(logits, logits.clone())
        assert parts.consistency.item() == pytest.approx(0.0, abs=1e-6)
        assert parts.entropy.item() == pytest.approx(math.log(num_clusters), abs=1e-5)
        assert parts.total.item() == pytest.approx(-5 * math.log(num_clusters), abs=1e-4)

    def test_disagreeing_one_hot_is_finite(self) -> None:
        # <p, q> underflows to 0 and is clamped at 1e-7: consistency = -ln(1e-7) = 16.118096.
        anchors = torch.tensor([[100.0, -100.0]])
        neighbors = torch.tensor([[-100.0, 100.0]])
        assert consistency_loss(anchors.softmax(1), neighbors.softmax(1)).item() == pytest.approx(
            16.118096, abs=1e-4
        )
        # p_bar = [1, 0] is clamped at 1e-8, so H = -(1 * 0 + 1e-8 * ln 1e-8), about 0.
        assert entropy(anchors.softmax(1)).item() == pytest.approx(0.0, abs=1e-6)

    def test_invariant_to_cluster_and_batch_permutation(self) -> None:
        anchors, neighbors = torch.randn(6, 5), torch.randn(6, 5)
        loss_fn = SCANLoss()
        reference = loss_fn(anchors, neighbors).item()
        clusters, rows = torch.randperm(5), torch.randperm(6)
        assert loss_fn(anchors[:, clusters], neighbors[:, clusters]).item() == pytest.approx(
            reference, rel=1e-5
        )
        assert loss_fn(anchors[rows], neighbors[rows]).item() == pytest.approx(reference, rel=1e-5)

    def test_entropy_uses_anchors_only_and_gradient_reaches_both(self) -> None:
        anchors = torch.randn(4, 3, requires_grad=True)
        neighbors = torch.randn(4, 3, requires_grad=True)
        parts = SCANLoss().forward_components(anchors, neighbors)
        assert parts.entropy.item() == pytest.approx(entropy(anchors.softmax(1)).item())
        parts.total.backward()
        assert anchors.grad is not None and anchors.grad.abs().sum() > 0
        assert neighbors.grad is not None and neighbors.grad.abs().sum() > 0

    def test_keeps_dtype(self) -> None:
        anchors, neighbors = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
        loss = SCANLoss()(anchors, neighbors)
        assert loss.dtype == torch.float64
        assert loss.item() == pytest.approx(_scan_manual(anchors, neighbors, 5.0), rel=1e-10)

    def test_invalid_entropy_weight(self) -> None:
        with pytest.raises(ValueError, match="entropy_weight"):
            SCANLoss(entropy_weight=-1.0)

    def test_mismatched_shapes(self) -> None:
        with pytest.raises(ValueError, match="anchor_logits and neighbor_logits"):
            SCANLoss()(torch.randn(3, 4), torch.randn(3, 5))

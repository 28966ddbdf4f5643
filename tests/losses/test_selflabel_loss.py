import math

import pytest
import torch

from deepclust.losses import SelfLabelLoss, confident_mask


def _selflabel_manual(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float, class_balanced: bool
) -> float | None:
    """Slow self-labelling loss from its definition: per-sample CE, then per-class or plain means."""
    weak = weak_logits.double().softmax(dim=1).tolist()
    strong = strong_logits.double().tolist()
    per_class: dict[int, list[float]] = {}
    for w, s in zip(weak, strong, strict=True):
        label = max(range(len(w)), key=lambda c: w[c])
        if w[label] <= threshold:
            continue
        log_norm = math.log(sum(math.exp(v) for v in s))
        per_class.setdefault(label, []).append(log_norm - s[label])
    if not per_class:
        return None
    if class_balanced:
        return sum(sum(v) / len(v) for v in per_class.values()) / len(per_class)
    values = [x for v in per_class.values() for x in v]
    return sum(values) / len(values)


# Five samples, two classes. Weak logits +-10 give max softmax 1 / (1 + e^-10) = 0.99995 > 0.99;
# the last sample is uniform (0.5) and not confident. Pseudo-labels: 0, 0, 0, 1, -.
_WEAK = torch.tensor([[10.0, 0.0], [10.0, 0.0], [10.0, 0.0], [0.0, 10.0], [0.0, 0.0]])
_LN3 = math.log(3.0)
_STRONG = torch.tensor([[0.0, 0.0], [_LN3, 0.0], [0.0, _LN3], [0.0, 0.0], [-50.0, 50.0]])


class TestSelfLabelLoss:
    def test_hand_computed_class_balanced(self) -> None:
        # Per-sample CE on the strong view:
        #   class 0: [0, 0] -> ln 2 = 0.693147; [ln3, 0] -> -ln(3/4) = 0.287682;
        #            [0, ln3] -> -ln(1/4) = 1.386294
        #   class 1: [0, 0] -> ln 2 = 0.693147
        # Class means: (0.693147 + 0.287682 + 1.386294) / 3 = 0.789041 and 0.693147.
        # Balanced: (0.789041 + 0.693147) / 2 = 0.741094
        # (weights 4/3 and 4: (4/3 * 2.367123 + 4 * 0.693147) / (4/3 * 3 + 4 * 1) = 5.928753 / 8).
        loss = SelfLabelLoss(threshold=0.99)(_WEAK, _STRONG)
        assert loss is not None
        assert loss.item() == pytest.approx(0.741094, abs=1e-6)

    def test_hand_computed_unbalanced(self) -> None:
        # Plain mean over the 4 confident samples: (2.367123 + 0.693147) / 4 = 0.765068.
        loss = SelfLabelLoss(threshold=0.99, class_balanced=False)(_WEAK, _STRONG)
        assert loss is not None
        assert loss.item() == pytest.approx(0.765068, abs=1e-6)

    def test_returns_none_without_confident_sample(self) -> None:
        weak = torch.zeros(8, 10)
        assert SelfLabelLoss()(weak, torch.randn(8, 10)) is None

    @pytest.mark.parametrize("batch_size", [1, 4, 32])
    @pytest.mark.parametrize("num_clusters", [3, 10])
    @pytest.mark.parametrize("threshold", [0.5, 0.9])
    @pytest.mark.parametrize("class_balanced", [True, False])
    def test_matches_manual(
        self, batch_size: int, num_clusters: int, threshold: float, class_balanced: bool
    ) -> None:
        generator = torch.Generator().manual_seed(batch_size * 100 + num_clusters)
        weak = 4 * torch.randn(batch_size, num_clusters, generator=generator)
        strong = torch.randn(batch_size, num_clusters, generator=generator)
        loss = SelfLabelLoss(threshold=threshold, class_balanced=class_balanced)(weak, strong)
        expected = _selflabel_manual(weak, strong, threshold, class_balanced)
        if expected is None:
            assert loss is None
        else:
            assert loss is not None
            assert loss.item() == pytest.approx(expected, rel=1e-5)

    def test_invariant_to_cluster_permutation(self) -> None:
        weak, strong = 5 * torch.randn(16, 4), torch.randn(16, 4)
        perm = torch.randperm(4)
        loss_fn = SelfLabelLoss(threshold=0.8)
        loss, permuted = loss_fn(weak, strong), loss_fn(weak[:, perm], strong[:, perm])
        assert loss is not None and permuted is not None
        assert permuted.item() == pytest.approx(loss.item(), rel=1e-5)

    def test_weak_branch_is_detached(self) -> None:
        weak = (10 * torch.eye(3)).requires_grad_()
        strong = torch.randn(3, 3, requires_grad=True)
        loss = SelfLabelLoss()(weak, strong)
        assert loss is not None
        loss.backward()
        assert weak.grad is None
        assert strong.grad is not None and strong.grad.abs().sum() > 0

    def test_confident_mask(self) -> None:
        mask = confident_mask(_WEAK, 0.99)
        assert mask.dtype == torch.bool
        assert mask.tolist() == [True, True, True, True, False]
        # Uniform over 2 classes is 0.5, and the comparison is strict.
        assert confident_mask(_WEAK, 0.5).tolist() == [True, True, True, True, False]
        assert confident_mask(_WEAK, 0.4).tolist() == [True] * 5

    @pytest.mark.parametrize("threshold", [0.0, 1.0, -0.5, 1.5])
    def test_invalid_threshold(self, threshold: float) -> None:
        with pytest.raises(ValueError, match="threshold"):
            SelfLabelLoss(threshold=threshold)
        with pytest.raises(ValueError, match="threshold"):
            confident_mask(_WEAK, threshold)

    def test_mismatched_shapes(self) -> None:
        with pytest.raises(ValueError, match="weak_logits and strong_logits"):
            SelfLabelLoss()(torch.randn(3, 4), torch.randn(2, 4))

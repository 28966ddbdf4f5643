"""Samplers: the seeded permutation, DeepCluster's label-uniform order, and batching an order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepclust.engine import EpochBatches, cyclic_order, random_order, uniform_label_order


class TestRandomOrder:
    @pytest.mark.parametrize(("seed", "epoch", "samples_per_epoch"), [(0, 0, None), (7, 3, None), (7, 3, 20),
                                                                       (123, 11, 100)])
    def test_equals_the_permutation_runs_were_trained_with(self, seed: int, epoch: int,
                                                          samples_per_epoch: int | None) -> None:
        g = torch.Generator().manual_seed(hash((seed, epoch)) & 0x7FFF_FFFF)
        expected = torch.randperm(50, generator=g)[:samples_per_epoch]
        order = random_order(50, epoch, seed, samples_per_epoch)
        assert order.dtype == torch.int64 and torch.equal(order, expected)

    def test_seeded_by_epoch_and_seed(self) -> None:
        a = random_order(50, 3, 7)
        assert torch.equal(a, random_order(50, 3, 7))
        assert not torch.equal(a, random_order(50, 4, 7))
        assert not torch.equal(a, random_order(50, 3, 8))
        assert sorted(a.tolist()) == list(range(50))


def _counts(order: torch.Tensor, labels: torch.Tensor) -> dict[int, int]:
    values, counts = torch.unique(labels[order], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


class TestUniformLabelOrder:
    # label 0: 50 samples, label 1: 3, label 2: empty, label 3: 20, label 5: exactly 34; -1: unassigned
    LABELS = torch.cat([torch.zeros(50), torch.ones(3), torch.full((20,), 3.0), torch.full((34,), 5.0),
                        torch.full((7,), -1.0)]).long()[torch.randperm(114, generator=torch.Generator().manual_seed(0))]

    @pytest.mark.parametrize("num_samples", [0, 1, 3, 4, 100, 135, 136, 500])
    def test_counts_are_balanced_over_non_empty_labels(self, num_samples: int) -> None:
        order = uniform_label_order(self.LABELS, num_samples, torch.Generator().manual_seed(1))
        assert order.dtype == torch.int64 and order.shape == (num_samples,)
        counts = _counts(order, self.LABELS)
        assert set(counts) <= {0, 1, 3, 5}  # never an unassigned sample, the empty label 2 has none
        per_label = num_samples // 4 + 1  # floor(N / k_nonempty) + 1 draws per label, k = 4
        full = [counts.get(c, 0) for c in (0, 1, 3, 5)]
        assert max(full) - min(full) <= 1 and max(full) <= per_label and sum(full) == num_samples

    def test_replacement_only_for_small_labels(self) -> None:
        labels = self.LABELS
        order = uniform_label_order(labels, 100, torch.Generator().manual_seed(2))  # 26 draws per label
        for label, size in ((0, 50), (5, 34), (1, 3), (3, 20)):
            drawn = order[labels[order] == label]
            has_repeats = len(drawn.unique()) < len(drawn)
            assert has_repeats == (size < 26), label
        order = uniform_label_order(labels, 135, torch.Generator().manual_seed(2))  # 34 draws per label
        drawn = order[labels[order] == 5]
        assert len(drawn) >= 33 and len(drawn.unique()) == len(drawn)  # label 5 has exactly enough

    def test_deterministic_for_a_seeded_generator(self) -> None:
        a = uniform_label_order(self.LABELS, 100, torch.Generator().manual_seed(3))
        b = uniform_label_order(self.LABELS.numpy(), 100, torch.Generator().manual_seed(3))
        c = uniform_label_order(self.LABELS, 100, torch.Generator().manual_seed(4))
        assert torch.equal(a, b) and not torch.equal(a, c)

    def test_order_is_shuffled(self) -> None:
        labels = torch.arange(4).repeat_interleave(25)
        order = uniform_label_order(labels, 100, torch.Generator().manual_seed(0))
        assert not torch.equal(labels[order], labels[order].sort().values)

    def test_invalid(self) -> None:
        with pytest.raises(ValueError, match="label >= 0"):
            uniform_label_order(np.full(5, -1), 10, torch.Generator())
        with pytest.raises(ValueError, match="num_samples"):
            uniform_label_order(torch.zeros(5, dtype=torch.long), -1, torch.Generator())


class TestEpochBatches:
    def _indices(self, num_samples: int, batch_size: int, epoch: int, seed: int = 0, drop_last: bool = True):
        b = EpochBatches(random_order(num_samples, epoch, seed), batch_size, lambda idx: {"idx": idx},
                         drop_last=drop_last)
        return len(b), [batch["idx"] for batch in b]

    @pytest.mark.parametrize(("num_samples", "batch_size"), [(10, 3), (12, 4), (5, 1)])
    def test_covers_every_index_once(self, num_samples: int, batch_size: int) -> None:
        n, batches = self._indices(num_samples, batch_size, epoch=0, drop_last=False)
        assert n == len(batches) == -(-num_samples // batch_size)
        assert sorted(torch.cat(batches).tolist()) == list(range(num_samples))

    def test_drop_last(self) -> None:
        n, batches = self._indices(10, 3, epoch=0)
        assert n == len(batches) == 3
        flat = torch.cat(batches).tolist()
        assert len(set(flat)) == 9 and all(len(b) == 3 for b in batches)

    def test_batch_size_clamped(self) -> None:
        n, batches = self._indices(5, 64, epoch=0)
        assert n == 1 and sorted(batches[0].tolist()) == list(range(5))
        assert EpochBatches(torch.arange(5), 64, lambda idx: {"idx": idx}).batch_size == 5

    def test_empty_order(self) -> None:
        b = EpochBatches(torch.arange(0), 8, lambda idx: {"idx": idx})
        assert len(b) == 0 and list(b) == []

    def test_keeps_the_given_order(self) -> None:
        order = torch.tensor([4, 2, 0, 1, 3, 5])
        batches = [b["idx"].tolist() for b in EpochBatches(order, 2, lambda idx: {"idx": idx})]
        assert batches == [[4, 2], [0, 1], [3, 5]]

    def test_seeded_by_epoch(self) -> None:
        _, a = self._indices(50, 10, epoch=3, seed=7)
        _, b = self._indices(50, 10, epoch=3, seed=7)
        _, c = self._indices(50, 10, epoch=4, seed=7)
        assert torch.equal(torch.cat(a), torch.cat(b))
        assert not torch.equal(torch.cat(a), torch.cat(c))


def test_cyclic_order_walks_one_seeded_permutation_per_pass() -> None:
    stream = cyclic_order(7, 0, 21, seed=3)
    assert [sorted(stream[i:i + 7].tolist()) for i in (0, 7, 14)] == [list(range(7))] * 3
    assert torch.equal(stream[:7], random_order(7, 0, 3)) and torch.equal(stream[7:14], random_order(7, 1, 3))
    # Any window is the same slice of the stream (DEC's update intervals, resumed or not).
    assert torch.equal(cyclic_order(7, 5, 9, seed=3), stream[5:14])
    assert len(cyclic_order(7, 3, 0, seed=3)) == 0


def test_cyclic_order_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        cyclic_order(0, 0, 3, seed=0)

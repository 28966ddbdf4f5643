"""The collapse guard: cluster usage of a hard assignment, and the head selection that ranks collapse last."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deepclust.methods import HeadSelector
from deepclust.metrics import cluster_usage
from deepclust.models import ClusteringHead, HeadModel, build_backbone


def test_balanced_assignment_is_not_collapsed() -> None:
    usage = cluster_usage(np.arange(100) % 10, 10)
    assert (usage.non_empty, usage.largest_share, usage.collapsed) == (10, 0.1, False)
    assert usage.describe().startswith("ok: 10 of 10")


def test_an_empty_cluster_is_collapse() -> None:
    usage = cluster_usage(np.arange(90) % 9, 10)
    assert usage.non_empty == 9 and usage.collapsed
    assert usage.as_metrics() == {"non_empty_clusters": 9, "largest_cluster_share": 0.1111, "collapsed": True}


def test_one_cluster_holding_most_samples_is_collapse() -> None:
    assignments = np.concatenate([np.zeros(60, dtype=int), np.arange(40) % 10])
    usage = cluster_usage(assignments, 10)
    assert usage.non_empty == 10 and usage.largest_share == pytest.approx(0.64) and usage.collapsed
    assert "collapsed: 10 of 10 clusters non-empty, the largest holds 64.0%" == usage.describe()


def _model() -> HeadModel:
    return HeadModel(build_backbone("identity", input_dim=4), ClusteringHead(4, 3, num_heads=2))


def test_head_selection_passes_over_a_collapsed_head_whatever_its_loss(tmp_path: Path) -> None:
    selector = HeadSelector(tmp_path / "best.pt", "fp")
    collapsed = torch.tensor([[5.0, 0.0, 0.0]]).repeat(30, 1)  # every sample in cluster 0
    balanced = torch.eye(3).repeat(10, 1) * 5
    logits = torch.stack([collapsed, balanced])  # (2 heads, 30, 3)
    out = selector.update(0, _model(), logits, losses=torch.tensor([-9.0, -1.0]))
    assert out["best_head"] == 1 and out["collapsed_heads"] == 1
    assert selector.best()["head"] == 1 and selector.best()["collapsed"] is False
    # A later, lower-loss but collapsed epoch does not replace it; a non-collapsed better one does.
    selector.update(1, _model(), torch.stack([collapsed, collapsed]), losses=torch.tensor([-20.0, -20.0]))
    assert selector.best()["epoch"] == 1
    selector.update(2, _model(), torch.stack([balanced, collapsed]), losses=torch.tensor([-2.0, -20.0]))
    assert selector.best()["epoch"] == 3 and selector.best()["head"] == 0


def test_all_heads_collapsed_keeps_the_lowest_loss_and_says_so(tmp_path: Path) -> None:
    selector = HeadSelector(tmp_path / "best.pt", "fp")
    collapsed = torch.tensor([[5.0, 0.0, 0.0]]).repeat(30, 1)
    selector.update(0, _model(), torch.stack([collapsed, collapsed]), losses=torch.tensor([-1.0, -3.0]))
    assert selector.best()["head"] == 1 and selector.best()["collapsed"] is True


def test_selector_without_neighbours_needs_the_losses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loss"):
        HeadSelector(tmp_path / "best.pt", "fp").update(0, _model(), torch.zeros(2, 5, 3))

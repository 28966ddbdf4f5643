"""SCAN clustering (arXiv 2005.12320): neighbours should share a cluster, clusters should be balanced."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from deepclust.engine.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from deepclust.engine.distributed import is_main_process
from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.errors import DeepclustError
from deepclust.losses import SCANLoss, consistency_loss, entropy
from deepclust.metrics import cluster_usage
from deepclust.models import ClusteringHead, ClusteringModel

log = logging.getLogger(__name__)


class SCAN(nn.Module):
    """Backbone + `num_heads` clustering heads trained with the SCAN loss on (anchor, neighbour) pairs.

    Anchor and neighbour get independent draws of the strong augmentation and two forward passes, so
    BatchNorm statistics are per branch (as in the reference). The per-head losses are summed.

    Args:
        backbone: The pretext backbone (weights already loaded).
        transform: Strong augmentation for anchors and neighbours (feature rows: `FeatureTransform`).
        num_clusters: Clusters per head.
        num_heads: Heads trained at once; the one with the lowest unlabelled loss is kept.
        entropy_weight: Weight of the entropy term (SCAN configs: 5.0).
        update_head_only: Freeze the backbone (ImageNet recipe) instead of fine-tuning it (CIFAR/STL recipe).
        hidden_dim: Hidden size of MLP heads; None for SCAN's linear heads.
    """

    def __init__(self, backbone: nn.Module, transform: Callable[..., torch.Tensor], num_clusters: int,
                 num_heads: int = 1, entropy_weight: float = 5.0, update_head_only: bool = False,
                 hidden_dim: int | None = None) -> None:
        super().__init__()
        head = ClusteringHead(cast(int, backbone.output_dim), num_clusters, num_heads, hidden_dim)
        self.model = ClusteringModel(backbone, head)
        self.transform = transform
        self.criterion = SCANLoss(entropy_weight=entropy_weight, gather_distributed=True)  # global p_bar
        self.update_head_only = update_head_only
        if update_head_only:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> SCAN:
        super().train(mode)
        if self.update_head_only:
            self.model.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics
        return self

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """Returns the summed SCAN loss over heads for uint8 `batch["anchor"]` and `batch["neighbor"]`."""
        anchor_logits = self.model(self.transform(batch["anchor"], state.generator)).float()  # (H, B, C)
        neighbor_logits = self.model(self.transform(batch["neighbor"], state.generator)).float()
        total: torch.Tensor | float = 0.0
        consistency = ent = 0.0
        for a, n in zip(anchor_logits, neighbor_logits, strict=True):
            parts = self.criterion.forward_components(a, n)
            total = total + parts.total
            consistency += parts.consistency.item()
            ent += parts.entropy.item()
        heads = anchor_logits.shape[0]
        assert isinstance(total, torch.Tensor)  # at least one head
        return LossOutput(total, {"consistency": consistency / heads, "entropy": ent / heads})


def scan_batch_maker(images: torch.Tensor, neighbours: torch.Tensor, seed: int, epoch: int):
    """Returns `make_batch(indices)` pairing each anchor with one neighbour drawn uniformly from its list.

    The neighbour list includes the sample itself (column 0), as in the reference, and is redrawn every
    epoch; the draw is seeded by (seed, epoch) so a resumed epoch sees the same pairs.
    """
    g = torch.Generator().manual_seed(seed * 104729 + epoch)
    choice = torch.randint(neighbours.shape[1], (neighbours.shape[0],), generator=g)
    partner = neighbours[torch.arange(neighbours.shape[0]), choice]

    def make_batch(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"anchor": images[idx], "neighbor": images[partner[idx]]}

    return make_batch


def selection_losses(probs: torch.Tensor, neighbours: np.ndarray, num_neighbors: int = 5) -> torch.Tensor:
    """SCAN's unlabelled model-selection loss per head: consistency over neighbours minus entropy (weight 1).

    Uses the mean -log<p_i, p_j> over each sample and its first `num_neighbors` neighbours plus itself,
    and the entropy of the mean prediction; no labels are involved (reference-scan.md 3.5, weight 1 per I#114).

    Args:
        probs: Softmax outputs. Shape: (num_heads, N, num_clusters).
        neighbours: Neighbour indices with self in column 0. Shape: (N, K + 1).
        num_neighbors: Neighbours used per sample.

    Returns:
        One loss per head. Shape: (num_heads,).
    """
    cols = torch.as_tensor(neighbours[:, : num_neighbors + 1])  # (N, k+1), self included
    losses = []
    for p in probs:
        anchor = p.repeat_interleave(cols.shape[1], dim=0)
        partner = p[cols.reshape(-1)]
        losses.append(consistency_loss(anchor, partner) - entropy(p))
    return torch.stack(losses)


class HeadSelector:
    """Keeps, on disk, the (epoch, head) with the lowest unlabelled selection loss seen so far, avoiding collapse.

    The reference selects on the test split; we score the training split (no labels either way), so the
    test split stays untouched until evaluation. A head whose clusters collapse (`cluster_usage`: fewer
    non-empty clusters than asked, or one holding most samples) ranks behind every head that does not,
    whatever its loss; the choice records whether it collapsed. The best model is saved atomically to
    `path` with the run's fingerprint, so a resumed run continues the same selection and a changed run
    starts afresh. Under several processes only rank 0 writes; `fit` ends with a barrier, so every rank can
    `load_best` after training.

    Args:
        path: Where the best one-head model is kept (inside the persistent run directory).
        fingerprint: The run's fingerprint.
        neighbours: Neighbour indices of the scored split, self first, for SCAN's selection loss; None when
            the caller gives each head's loss (a method's own loss: CC, DCDC, IIC). Shape: (N, K + 1).
        num_neighbors: Neighbours per sample in the selection loss (reference: 5).
    """

    def __init__(self, path: Path, fingerprint: str, neighbours: np.ndarray | None = None,
                 num_neighbors: int = 5) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.neighbours = neighbours
        self.num_neighbors = num_neighbors

    def update(self, epoch: int, model: ClusteringModel, logits: torch.Tensor,
               losses: torch.Tensor | None = None) -> dict[str, float]:
        """Scores every head from its logits (num_heads, N, C), by `losses` (num_heads,) when given, else by
        SCAN's selection loss; saves the model if a head beats the best (non-collapsed first, then loss)."""
        if losses is None:
            if self.neighbours is None:
                raise ValueError("HeadSelector without neighbours needs each head's loss")
            losses = selection_losses(logits.softmax(-1), self.neighbours, self.num_neighbors)
        usage = [cluster_usage(h.argmax(-1).numpy(), h.shape[-1]) for h in logits]
        head = min(range(len(usage)), key=lambda h: (usage[h].collapsed, float(losses[h])))
        key = (usage[head].collapsed, float(losses[head]))
        best = self.best()
        if is_main_process() and (best is None or key < (bool(best.get("collapsed", False)), best["val_loss"])):
            chosen = ClusteringModel(model.backbone, cast(ClusteringHead, model.head).keep(head))
            run_variables = {"val_loss": float(losses[head]), "epoch": epoch + 1, "head": head,
                             **usage[head].as_metrics()}
            save_checkpoint(self.path, self.fingerprint, run_variables, model=chosen)
        collapsed = sum(u.collapsed for u in usage)
        if collapsed:
            log.warning("epoch %d: %d of %d heads collapsed (%s)", epoch + 1, collapsed, len(usage),
                        "; ".join(u.describe() for u in usage if u.collapsed))
        return {"val_loss": float(losses[head]), "best_head": head, "collapsed_heads": collapsed}

    def best(self) -> dict[str, Any] | None:
        """The best (val_loss, epoch, head) so far, or None."""
        state = load_checkpoint(self.path, self.fingerprint)
        return None if state is None else state["run_variables"]

    def load_best(self, model: ClusteringModel) -> dict[str, Any]:
        """Loads the best head's weights into a one-head `model`; returns its (val_loss, epoch, head)."""
        state = load_checkpoint(self.path, self.fingerprint)
        if state is None:
            raise DeepclustError(f"no selected model at {self.path}: training produced no epoch that trained the head")
        load_state_strict(model, state["states"]["model"], f"selected SCAN model {self.path}")
        return state["run_variables"]

"""Label-free choice of a clustering head and epoch, shared by SCAN, CC, DCDC and IIC.

SCAN's selection loss (arXiv 2005.12320, the reference's `scan_evaluate`) scores each head on the training
split's neighbours; the pair methods score each sub-head by their own loss. Either way a collapsed head (an empty
cluster, or one holding most samples) ranks behind every head that is not.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from deepclust.engine.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from deepclust.engine.distributed import is_main_process
from deepclust.errors import DeepclustError
from deepclust.losses.scan_loss import consistency_loss, entropy
from deepclust.metrics import cluster_usage
from deepclust.models import ClusteringHead, HeadModel

log = logging.getLogger(__name__)


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

    def update(self, epoch: int, model: HeadModel, logits: torch.Tensor,
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
            chosen = HeadModel(model.backbone, cast(ClusteringHead, model.head).keep(head))
            run_variables = {"val_loss": float(losses[head]), "epoch": epoch + 1, "head": head,
                             **usage[head].as_metrics()}
            save_checkpoint(self.path, self.fingerprint, run_variables, model=chosen)
        collapsed = sum(u.collapsed for u in usage)
        if collapsed:  # common in early epochs and handled above (collapsed heads rank last): no warning
            log.debug("epoch %d: %d of %d heads collapsed (%s)", epoch + 1, collapsed, len(usage),
                      "; ".join(u.describe() for u in usage if u.collapsed))
        return {"val_loss": float(losses[head]), "best_head": head, "collapsed_heads": collapsed}

    def best(self) -> dict[str, Any] | None:
        """The best (val_loss, epoch, head) so far, or None."""
        state = load_checkpoint(self.path, self.fingerprint)
        return None if state is None else state["run_variables"]

    def load_best(self, model: HeadModel) -> dict[str, Any]:
        """Loads the best head's weights into a one-head `model`; returns its (val_loss, epoch, head)."""
        state = load_checkpoint(self.path, self.fingerprint)
        if state is None:
            raise DeepclustError(f"no selected model at {self.path}: training produced no epoch that trained the head")
        load_state_strict(model, state["states"]["model"], f"selected SCAN model {self.path}")
        return state["run_variables"]

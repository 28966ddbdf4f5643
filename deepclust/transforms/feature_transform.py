"""The transform of feature-table rows (your own embeddings, or flattened pixels): float, L2-normalised."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class FeatureTransform:
    """Rows of a feature table as model input: float32, L2-normalised by default, no augmentation.

    Features are mined by cosine similarity, so the heads trained on them see the same geometry. There is
    no augmentation of an arbitrary embedding that keeps its meaning, so SCAN and self-labelling on a
    table train on the rows as they are (the neighbours alone carry the invariance).

    Args:
        l2_normalize: Divide each row by its L2 norm.
    """

    def __init__(self, l2_normalize: bool = True) -> None:
        self.l2_normalize = l2_normalize

    def __call__(self, rows: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Transform a batch; `generator` is accepted for a uniform transform interface and unused.

        Args:
            rows: Shape: (B, D), any real dtype.
            generator: Ignored.

        Returns:
            Shape: (B, D) float32.
        """
        if rows.dim() != 2:
            raise ValueError(f"feature rows must have shape (B, D), got {tuple(rows.shape)}")
        x = rows.float()
        return F.normalize(x, dim=1) if self.l2_normalize else x

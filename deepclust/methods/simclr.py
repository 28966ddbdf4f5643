"""SimCLR pretext training (arXiv 2002.05709) as SCAN's first step: backbone + projection head + NT-Xent."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import NTXentLoss
from deepclust.models import HeadModel, SimCLRProjectionHead
from deepclust.transforms import SimCLRTransform


class SimCLR(nn.Module):
    """Two augmented views per image, embedded by the same network, pulled together by NT-Xent.

    Both views go through one forward pass, so BatchNorm sees 2B images (as SCAN's simclr.py does).

    Args:
        backbone: Feature extractor with `output_dim`.
        transform: Returns the two views of a uint8 batch.
        temperature: NT-Xent temperature (SCAN: 0.1).
        symmetric: Standard two-sided NT-Xent (True) or SCAN's first-view-anchors form (False).
        hidden_dim: Projection head hidden size (512).
        output_dim: Embedding size (128).
    """

    def __init__(self, backbone: nn.Module, transform: SimCLRTransform, temperature: float = 0.1,
                 symmetric: bool = False, hidden_dim: int = 512, output_dim: int = 128) -> None:
        super().__init__()
        head = SimCLRProjectionHead(cast(int, backbone.output_dim), hidden_dim, output_dim)
        self.model = HeadModel(backbone, head)
        self.transform = transform
        # Negatives from every rank's batch: under N processes the loss is the single-process one (SimCLR
        # gathers across TPU cores, arXiv 2002.05709 section 2.2).
        self.criterion = NTXentLoss(temperature=temperature, symmetric=symmetric, gather_distributed=True)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """Embeds two views of `batch["images"]` (uint8, (B, H, W, C)) and returns the NT-Xent loss."""
        view0, view1 = self.transform(batch["images"], state.generator)
        z = self.model(torch.cat([view0, view1]))  # (2B, output_dim), unit norm
        z0, z1 = z.float().chunk(2)
        loss = self.criterion(z0, z1)
        with torch.no_grad():
            positive_sim = (z0 * z1).sum(1).mean().item()
        return LossOutput(loss, {"positive_similarity": positive_sim})

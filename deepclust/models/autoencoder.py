"""The fully connected autoencoder of DEC and IDEC (arXiv 1511.06335, 1601.02283): d-500-500-2000-10."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from deepclust.models.backbones import build_backbone, mlp


class AutoEncoder(nn.Module):
    """Symmetric MLP autoencoder; its encoder is an `mlp` backbone, which DEC/IDEC (or SCAN) cluster with.

    "a deep autoencoder ... d-500-500-2000-10 for all datasets ... ReLU everywhere except the embedding and the
    reconstruction layers" (DEC, arXiv 1511.06335, 3.2 and 4.3). `backbone` is the encoder, so any stage that
    takes a backbone (embed, kmeans, dec, scan) takes a pretrained autoencoder.

    Args:
        input_dim: Input size d (flattened pixels or a feature row).
        hidden_dims: Encoder layer sizes, the last one is the embedding (DEC: 500, 500, 2000, 10).
        input_scale: Image inputs are pixel values times this (DEC-keras 1/255; DEC's Caffe 0.02), None: the
            data set's mean/std normalisation. Recorded in the encoder's `arch`, so DEC and every consumer of
            the encoder feed it the same inputs.
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int] = (500, 500, 2000, 10),
                 input_scale: float | None = None) -> None:
        super().__init__()
        self.backbone = build_backbone("mlp", input_dim=input_dim, hidden_dims=hidden_dims, input_scale=input_scale)
        self.decoder = mlp([*hidden_dims[::-1], input_dim])
        self.output_dim = int(hidden_dims[-1])
        self.arch: dict[str, Any] = {"input_dim": input_dim, "hidden_dims": list(hidden_dims)}
        if input_scale is not None:
            self.arch["input_scale"] = float(input_scale)

    @property
    def head(self) -> None:
        """No projection head: the embedding is the encoder's output."""
        return None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (embedding, reconstruction of the flattened input). Shapes: (B, hidden_dims[-1]), (B, d)."""
        z = self.backbone(x)
        return z, self.decoder(z)

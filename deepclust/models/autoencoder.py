"""The fully connected autoencoder of DEC and IDEC (arXiv 1511.06335, 1601.02283): d-500-500-2000-10."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and none after the last (the embedding / reconstruction is linear)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AutoEncoder(nn.Module):
    """Symmetric MLP autoencoder; `encoder` is the backbone DEC/IDEC cluster with.

    "a deep autoencoder ... d-500-500-2000-10 for all datasets ... ReLU everywhere except the embedding and the
    reconstruction layers" (DEC, arXiv 1511.06335, 3.2 and 4.3).

    Args:
        input_dim: Input size d (flattened pixels or a feature row).
        hidden_dims: Encoder layer sizes, the last one is the embedding (DEC: 500, 500, 2000, 10).
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int] = (500, 500, 2000, 10)) -> None:
        super().__init__()
        if input_dim < 1 or not hidden_dims or min(hidden_dims) < 1:
            raise ValueError(f"input_dim and hidden_dims must be positive, got {input_dim}, {list(hidden_dims)}")
        dims = [input_dim, *hidden_dims]
        self.encoder = _mlp(dims)
        self.decoder = _mlp(dims[::-1])
        self.output_dim = int(hidden_dims[-1])
        self.arch: dict[str, Any] = {"input_dim": input_dim, "hidden_dims": list(hidden_dims)}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (embedding, reconstruction). Shapes: (B, hidden_dims[-1]), (B, input_dim)."""
        z = self.encoder(x.flatten(1))
        return z, self.decoder(z)

"""IDFD (Tao et al., arXiv 2106.00131): instance discrimination over a memory bank plus feature decorrelation;
clusters come from k-means on the learned 128-d embedding."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from deepclust.engine.distributed import gather_no_grad
from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import IDFDLoss
from deepclust.models import HeadModel, SimCLRProjectionHead


class IDFD(nn.Module):
    """Backbone + a linear 128-d embedding (L2-normalised), one augmented view per step.

    The memory bank V (n x d) starts uniform in +-1/sqrt(d/3), as the reference's; after each step the batch's
    rows move towards their new embeddings, v_i <- normalize(m v_i + (1 - m) f_i) with m = 0.5, under no_grad
    (the reference does it inside a custom backward, which breaks under AMP or accumulation). The bank is a
    buffer, so a resumed run continues with it.

    Args:
        backbone: Feature extractor with `output_dim`.
        transform: One augmented view of a uint8 batch.
        num_samples: n, the training samples (one bank row each).
        temperature: tau of instance discrimination (1.0).
        decorrelation_temperature: tau2 of feature decorrelation (2.0).
        alpha: Weight of feature decorrelation (1.0).
        bank_momentum: m (0.5).
        output_dim: d (128).
    """

    bank: torch.Tensor

    def __init__(self, backbone: nn.Module, transform: Callable[..., torch.Tensor], num_samples: int,
                 temperature: float = 1.0, decorrelation_temperature: float = 2.0, alpha: float = 1.0,
                 bank_momentum: float = 0.5, output_dim: int = 128) -> None:
        super().__init__()
        head = SimCLRProjectionHead(int(cast(int, backbone.output_dim)), None, output_dim)  # Linear + L2-normalise
        self.model = HeadModel(backbone, head)
        self.transform = transform
        self.criterion = IDFDLoss(temperature, decorrelation_temperature, alpha)
        self.bank_momentum = bank_momentum
        bound = 1.0 / math.sqrt(output_dim / 3)
        self.register_buffer("bank", torch.rand(num_samples, output_dim) * 2 * bound - bound)
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """L_I + alpha L_F of one view of `batch["images"]`, against the bank rows of `batch["index"]`."""
        f = self.model(self.transform(batch["images"], state.generator)).float()
        loss, inst, decor = self.criterion(f, self.bank, batch["index"])
        # Every rank moves the global batch's rows, so the banks stay equal under several processes.
        self._pending = (gather_no_grad(batch["index"]), gather_no_grad(f.detach()))
        return LossOutput(loss, {"instance": inst.item(), "decorrelation": decor.item()})

    @torch.no_grad()
    def on_after_step(self, state: TrainState) -> None:
        """The batch's bank rows move towards their new embeddings (after the step, as in the reference)."""
        if self._pending is None:
            return
        index, f = self._pending
        m = self.bank_momentum
        self.bank[index] = F.normalize(m * self.bank[index] + (1 - m) * f, dim=1)
        self._pending = None

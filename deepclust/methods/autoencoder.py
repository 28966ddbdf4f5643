"""Autoencoder pretraining for DEC and IDEC: end-to-end reconstruction, optionally denoising."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.models import AutoEncoder


class AutoEncoderPretraining(nn.Module):
    """Trains an `AutoEncoder` to reconstruct its (normalised, flattened) input with the mean squared error.

    With `corruption` > 0 the input is a denoising one: each input coordinate is zeroed with that
    probability (DEC's stacked denoising autoencoder uses 0.2), and the clean input is the target.

    Args:
        autoencoder: The model trained.
        transform: The deterministic input transform (normalisation; feature rows: as given).
        corruption: Probability of zeroing an input coordinate.
    """

    def __init__(self, autoencoder: AutoEncoder, transform: Callable[..., torch.Tensor],
                 corruption: float = 0.0) -> None:
        super().__init__()
        self.model = autoencoder
        self.transform = transform
        self.corruption = corruption

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        x = self.transform(batch["images"], None).flatten(1)
        noisy = x
        if self.corruption > 0:
            keep = torch.rand(x.shape, generator=state.generator, device=x.device) >= self.corruption
            noisy = x * keep
        reconstruction = self.model(noisy)[1].float()
        return LossOutput(F.mse_loss(reconstruction, x.float()))

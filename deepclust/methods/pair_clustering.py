"""Clustering heads trained on two views of each image: CC, DCDC and IIC are this one method with their own
pair loss, head groups and (CC) an instance-contrast head.

- CC (arXiv 2009.09687): two SimCLR views; ClusterContrastiveLoss on the cluster head + NT-Xent (tau 0.5) on
  an instance head.
- DCDC (arXiv 2103.05484): (original, augmented) views; DCDCLoss; an overclustering head A and the K-way head
  B, one pass each in turn.
- IIC (arXiv 1807.06653): (original, transformed) views; IICLoss averaged over sub-heads; head A
  (overclustering) for one pass, then head B for `head_B_epochs` passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import nn

from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses import NTXentLoss
from deepclust.models import ClusteringHead, HeadModel, MultiKClusteringHead, SimCLRProjectionHead


class PairClustering(nn.Module):
    """Backbone + head groups (one per K, each with `num_heads` sub-heads) trained by a loss on view pairs.

    Epoch e trains the group `schedule[e % len(schedule)]` (and the backbone); the loss of a group is the mean
    of its sub-heads' pair losses. The last group predicts (K = the number of clusters); the others
    overcluster. Each image is repeated `repeats` times per batch with independent views (DCDC's
    `data_nrepeat`, IIC's `num_dataloaders`). Both views go through one forward pass.

    Per-sub-head losses of the last group are averaged over its epochs (`epoch_head_losses`): a method's
    own unlabelled loss, which the stage uses to pick a sub-head and an epoch.

    Args:
        backbone: Feature extractor with `output_dim`.
        transform: Returns the two views of a uint8 batch.
        num_clusters: K per group, the predicting K last (IIC/DCDC: (70, 10); CC: (10,)).
        pair_loss: loss(probs_a, probs_b) of one sub-head, probabilities (B, K); built with
            `gather_distributed=True` so that under several processes it sees the global batch.
        schedule: Group index per epoch, cycled (IIC CIFAR-10: (0, 1, 1); DCDC: (0, 1); CC: (0,)).
        num_heads: Sub-heads per group (IIC: 5).
        hidden_dim: Hidden size of MLP sub-heads (CC: 512); None for linear ones (IIC, DCDC).
        repeats: Views drawn per image and batch.
        instance_temperature: CC: adds an instance head (512-512-128) trained with NT-Xent at this
            temperature (0.5); None for none.
    """

    def __init__(self, backbone: nn.Module, transform: Callable[..., list[torch.Tensor]], num_clusters: Sequence[int],
                 pair_loss: nn.Module, schedule: Sequence[int] = (0,), num_heads: int = 1,
                 hidden_dim: int | None = None, repeats: int = 1, instance_temperature: float | None = None) -> None:
        super().__init__()
        groups = len(num_clusters)
        if not schedule or any(not 0 <= g < groups for g in schedule) or groups - 1 not in schedule:
            raise ValueError(f"schedule must list head groups in [0, {groups}) and train the last one, got "
                             f"{list(schedule)}")
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        dim = int(cast(int, backbone.output_dim))
        self.model = HeadModel(backbone, MultiKClusteringHead(dim, num_clusters, num_heads, hidden_dim))
        self.instance_head = None if instance_temperature is None else SimCLRProjectionHead(dim, 512, 128)
        self.instance_loss = (None if instance_temperature is None
                              else NTXentLoss(instance_temperature, True, gather_distributed=True))
        self.transform, self.pair_loss = transform, pair_loss
        self.schedule, self.repeats = list(schedule), repeats
        self._loss_sum = torch.zeros(num_heads)
        self._batches = 0

    @property
    def head(self) -> MultiKClusteringHead:
        return cast(MultiKClusteringHead, self.model.head)

    @staticmethod
    def schedule_group(schedule: Sequence[int], epoch: int) -> int:
        """The head group that epoch `epoch` trains under `schedule`."""
        return schedule[epoch % len(schedule)]

    def group(self, epoch: int) -> int:
        """The head group epoch `epoch` trains."""
        return self.schedule_group(self.schedule, epoch)

    def trains_final(self, epoch: int) -> bool:
        """Whether epoch `epoch` trains the predicting (last) group."""
        return self.group(epoch) == len(self.head.groups) - 1

    def clustering_model(self) -> HeadModel:
        """Backbone + the predicting group's sub-heads (shares their weights)."""
        return HeadModel(self.model.backbone, cast(ClusteringHead, self.head.groups[-1]))

    def on_epoch_start(self, state: TrainState) -> None:
        self._loss_sum.zero_()
        self._batches = 0

    def epoch_head_losses(self) -> torch.Tensor:
        """Mean loss per sub-head of the predicting group over the current epoch's batches. Shape: (num_heads,)."""
        return self._loss_sum / max(self._batches, 1)

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """The group's mean sub-head pair loss on the views of `batch["images"]` (+ CC's instance loss)."""
        images = batch["images"].repeat(self.repeats, *([1] * (batch["images"].dim() - 1)))
        view_a, view_b = self.transform(images, state.generator)
        features = self.model.backbone(torch.cat([view_a, view_b]))
        group = self.group(state.epoch)
        probs_a, probs_b = self.head.groups[group](features).float().softmax(-1).chunk(2, dim=1)  # (H, B, K) each
        losses = torch.stack([self.pair_loss(a, b) for a, b in zip(probs_a, probs_b, strict=True)])
        loss = losses.mean()
        metrics = {f"loss_k{probs_a.shape[-1]}": loss.item()}
        if self.instance_head is not None and self.instance_loss is not None:
            z_a, z_b = self.instance_head(features).float().chunk(2)
            instance = self.instance_loss(z_a, z_b)
            loss = loss + instance
            metrics["instance"] = instance.item()
        if group == len(self.head.groups) - 1:
            self._loss_sum += losses.detach().cpu()
            self._batches += 1
        return LossOutput(loss, metrics)

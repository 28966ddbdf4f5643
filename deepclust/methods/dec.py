"""DEC (Xie et al., arXiv 1511.06335) and IDEC (Guo et al., IJCAI 2017): sharpen a k-means-initialised Student-t
clustering of an encoder's embedding by KL(P || Q); IDEC keeps the decoder's reconstruction loss alongside."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepclust.cluster import kmeans
from deepclust.engine.inference import predict
from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses.dec_loss import DECLoss, target_distribution
from deepclust.models import HeadModel, StudentTHead


class DEC(nn.Module):
    """Deep embedded clustering on any backbone, with IDEC's reconstruction term when a decoder is given.

    One "epoch" of `fit` is one update interval. At its start (`on_epoch_start`) Q is computed on every
    sample, the target P = `target_distribution(Q)` is refreshed and held fixed for the interval, and
    training stops once fewer than `tol` of the labels (argmax Q) changed since the previous refresh. The
    centroids are initialised by k-means (`kmeans_nredo` runs, DEC: 20) on the embedding at the first epoch.

    Loss: KL(P || Q) (DEC); L_r + gamma KL(P || Q) with L_r the decoder's MSE (IDEC, gamma = 0.1).

    Args:
        backbone: The encoder (an autoencoder's `backbone`, or any other backbone).
        transform: The deterministic input transform (normalisation; feature rows: as given).
        inputs: Every training sample. Shape: (N, ...).
        num_clusters: K.
        alpha: Student-t degrees of freedom (1).
        tol: Stop when the fraction of changed labels between two refreshes is below this (0.001).
        decoder: IDEC: the autoencoder's decoder, trained on; None for DEC.
        gamma: Weight of the KL term in IDEC's loss (0.1); ignored without a decoder.
        kmeans_nredo: k-means restarts of the initialisation (20).
        seed: Seed of the initial k-means.
    """

    targets: torch.Tensor
    labels: torch.Tensor

    def __init__(self, backbone: nn.Module, transform: Callable[..., torch.Tensor], inputs: torch.Tensor,
                 num_clusters: int, alpha: float = 1.0, tol: float = 1e-3, decoder: nn.Module | None = None,
                 gamma: float = 0.1, kmeans_nredo: int = 20, seed: int = 0, feature_batch_size: int = 1024) -> None:
        super().__init__()
        if not 2 <= num_clusters <= len(inputs):
            raise ValueError(f"num_clusters must be in [2, {len(inputs)}], got {num_clusters}")
        head = StudentTHead(int(cast(int, backbone.output_dim)), num_clusters, alpha)
        self.model = HeadModel(backbone, head)
        self.decoder = decoder
        self.transform, self.inputs = transform, inputs
        self.tol, self.gamma, self.kmeans_nredo, self.seed = tol, gamma, kmeans_nredo, seed
        self.feature_batch_size = feature_batch_size
        self.criterion = DECLoss()
        self.register_buffer("targets", torch.zeros(len(inputs), num_clusters))
        self.register_buffer("labels", torch.full((len(inputs),), -1, dtype=torch.long))

    @property
    def head(self) -> StudentTHead:
        return cast(StudentTHead, self.model.head)

    def init_centroids(self, state: TrainState) -> dict[str, float]:
        """k-means on the encoder's embedding of every sample gives the initial centroids."""
        z = predict(self.model.backbone, self.inputs, self.transform, state.runtime, self.feature_batch_size,
                    "dec embed").numpy()
        result = kmeans(z, self.head.centroids.shape[0], seed=self.seed, niter=100, nredo=self.kmeans_nredo,
                        device=state.runtime.device)
        with torch.no_grad():
            self.head.centroids.copy_(torch.from_numpy(result.centroids))
        return {"kmeans_inertia": result.inertia}

    def on_fit_start(self, state: TrainState) -> None:
        if state.epoch == 0:  # a resumed run keeps its trained centroids
            self.init_centroids(state)

    def on_epoch_start(self, state: TrainState) -> dict[str, float]:
        """Refreshes P on all data; stops (before training on it) when the labels have settled."""
        q = predict(self.model, self.inputs, self.transform, state.runtime, self.feature_batch_size,
                    "dec targets")[0].exp()  # (N, K): the head returns log q
        self.targets.copy_(target_distribution(q))
        labels = q.argmax(1)
        changed = float((labels != self.labels.cpu()).float().mean()) if bool((self.labels >= 0).all()) else 1.0
        self.labels.copy_(labels)
        sizes = np.bincount(labels.numpy(), minlength=q.shape[1])
        if state.epoch > 0 and changed < self.tol:
            state.stop, state.stop_reason = True, f"{changed:.4%} of labels changed (< tol {self.tol:.2%})"
        return {"label_change": changed, "largest_cluster_fraction": float(sizes.max() / len(labels))}

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """KL(P || Q) on the batch (IDEC: plus the reconstruction error, KL weighted by gamma)."""
        x = self.transform(batch["images"], None)
        z = self.model.backbone(x)
        log_q = self.head(z)[0].float()
        kl = self.criterion(log_q.exp(), self.targets[batch["index"]])
        if self.decoder is None:
            return LossOutput(kl, {"kl": kl.item()})
        reconstruction = F.mse_loss(self.decoder(z).float(), x.flatten(1).float())
        return LossOutput(reconstruction + self.gamma * kl, {"kl": kl.item(), "reconstruction": reconstruction.item()})

"""DeepCluster (Caron et al., arXiv 1807.05520): k-means pseudo-labels on the network's own features, re-made
every epoch, learned by a classifier whose top layer starts afresh each time."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from deepclust.cluster import PCA, kmeans
from deepclust.engine.inference import predict
from deepclust.engine.loop import LossOutput
from deepclust.engine.samplers import uniform_label_order
from deepclust.engine.state import TrainState


def pca_whiten_l2(features: np.ndarray, dim: int) -> np.ndarray:
    """DeepCluster's preprocessing: PCA to `dim` (capped at the feature size) with whitening, then L2 rows."""
    x = PCA(min(dim, features.shape[1], len(features)), whiten=True).fit_transform(features)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class DeepCluster(nn.Module):
    """Alternates clustering the features and learning to predict the clusters (arXiv 1807.05520, 3.2).

    Each epoch (`on_epoch_start`): features of every sample in eval mode -> PCA with whitening -> L2 ->
    k-means (a fresh seed per epoch) -> pseudo-labels; the epoch's order draws `reassign` x N samples
    uniformly over the non-empty pseudo-labels; the top layer is re-initialised (N(0, 0.01^2), bias 0) and
    its optimiser state dropped, as the reference builds a fresh optimiser for it. The NMI between this
    epoch's and the previous epoch's assignments is logged (the reference's stability monitor).

    Args:
        backbone: Feature extractor with `output_dim` (optionally behind a Sobel filter).
        transform: One augmented view of a uint8 batch (RandomResizedCrop + flip in the reference).
        eval_transform: The deterministic transform the features are computed with.
        inputs: Every training sample (uint8 images or feature rows). Shape: (N, ...).
        num_clusters: k of the per-epoch k-means (over-clustering: ~100 for 10 classes).
        pca_dim: PCA output size (256).
        kmeans_niter: Lloyd iterations per epoch (20).
        reassign: Samples per epoch as a multiple of N (1).
        seed: Base seed of the per-epoch k-means.
        feature_batch_size: Samples per forward pass when computing the features.
    """

    pseudo_labels: torch.Tensor

    def __init__(self, backbone: nn.Module, transform: Callable[..., torch.Tensor],
                 eval_transform: Callable[..., torch.Tensor], inputs: torch.Tensor, num_clusters: int,
                 pca_dim: int = 256, kmeans_niter: int = 20, reassign: float = 1.0, seed: int = 0,
                 feature_batch_size: int = 512) -> None:
        super().__init__()
        if not 2 <= num_clusters <= len(inputs):
            raise ValueError(f"num_clusters must be in [2, {len(inputs)}], got {num_clusters}")
        self.backbone = backbone
        self.top_layer = nn.Linear(int(backbone.output_dim), num_clusters)  # type: ignore[arg-type]
        self.transform, self.eval_transform, self.inputs = transform, eval_transform, inputs
        self.num_clusters, self.pca_dim, self.kmeans_niter = num_clusters, pca_dim, kmeans_niter
        self.reassign, self.seed, self.feature_batch_size = reassign, seed, feature_batch_size
        self.register_buffer("pseudo_labels", torch.full((len(inputs),), -1, dtype=torch.long))
        self.epoch_order = torch.zeros(0, dtype=torch.long)

    def reset_top_layer(self, state: TrainState) -> None:
        """Re-initialises the top layer in place and forgets its optimiser state (momentum, Adam moments)."""
        nn.init.normal_(self.top_layer.weight, 0.0, 0.01)
        nn.init.zeros_(self.top_layer.bias)
        state.reset_optimizer_state(self.top_layer.parameters())

    def cluster(self, state: TrainState) -> tuple[np.ndarray, dict[str, float]]:
        """k-means on the PCA-whitened, L2-normalised features of every sample; returns (labels, metrics)."""
        t0 = time.perf_counter()
        features = predict(self.backbone, self.inputs, self.eval_transform, state.runtime,
                           self.feature_batch_size, "deepcluster features").numpy()
        x = pca_whiten_l2(features, self.pca_dim)
        result = kmeans(x, self.num_clusters, seed=self.seed * 100_003 + state.epoch, niter=self.kmeans_niter,
                        nredo=1, device=state.runtime.device)
        sizes = np.bincount(result.assignments, minlength=self.num_clusters)
        return result.assignments, {"kmeans_loss": result.inertia / len(x), "empty_clusters": int((sizes == 0).sum()),
                                    "largest_cluster_fraction": float(sizes.max() / len(x)),
                                    "cluster_seconds": time.perf_counter() - t0}

    def on_epoch_start(self, state: TrainState) -> dict[str, float]:
        """E-step: new pseudo-labels, the epoch's label-uniform order, a fresh top layer."""
        labels, metrics = self.cluster(state)
        previous = self.pseudo_labels.cpu().numpy()
        if (previous >= 0).all():
            metrics["nmi_previous"] = float(normalized_mutual_info_score(previous, labels))
        self.pseudo_labels.copy_(torch.from_numpy(labels))
        self.epoch_order = uniform_label_order(labels, int(round(self.reassign * len(labels))), state.generator)
        self.reset_top_layer(state)
        return metrics

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """Cross entropy of the classifier on an augmented view against the epoch's pseudo-labels."""
        x = self.transform(batch["images"], state.generator)
        logits = self.top_layer(self.backbone(x)).float()
        target = self.pseudo_labels[batch["index"]]
        loss = F.cross_entropy(logits, target)
        with torch.no_grad():
            accuracy = (logits.argmax(1) == target).float().mean().item()
        return LossOutput(loss, {"pseudo_label_accuracy": accuracy})

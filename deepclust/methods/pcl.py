"""PCL (Li et al., arXiv 2005.04966): MoCo with a momentum encoder and a queue, plus prototypes from an E-step of
k-means at several granularities, pulled towards by ProtoNCE."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepclust.cluster import kmeans
from deepclust.engine.distributed import gather_no_grad
from deepclust.engine.inference import predict
from deepclust.engine.loop import LossOutput
from deepclust.engine.state import TrainState
from deepclust.losses.proto_nce_loss import ProtoNCELoss, concentration, info_nce
from deepclust.models import HeadModel, SimCLRProjectionHead


class PCL(nn.Module):
    """Query encoder trained by InfoNCE (+ ProtoNCE after warm-up); key encoder = its exponential moving average.

    E-step (`on_epoch_start`, from `warmup_epochs` on): momentum-encoder embeddings of every sample under the
    eval transform; for each K_m, k-means (seed m + epoch), centroids L2-normalised after the distances are
    taken, and the concentration phi per prototype (`concentration`). M-step: L = InfoNCE + ProtoNCE averaged
    over the granularities. Keys are embedded in `key_chunks` shuffled chunks, so BatchNorm statistics are
    not shared between a query's batch and its key (MoCo's shuffle-BN, on one device).

    The queue, its pointer and the prototypes are buffers, so a resumed run continues with them.

    Args:
        backbone: Feature extractor with `output_dim`.
        transform: Two augmented views of a uint8 batch.
        eval_transform: The deterministic transform of the E-step.
        inputs: Every training sample. Shape: (N, ...).
        num_clusters: The granularities K_m (reference ImageNet 25k/50k/100k; CIFAR-scale: hundreds).
        temperature: tau of InfoNCE and the mean phi (0.2).
        momentum: Key encoder EMA coefficient m (0.999; 0.99 for CIFAR).
        queue_size: Negatives kept (16384; a multiple of the batch size is not required here).
        warmup_epochs: Epochs of InfoNCE only before the first E-step (20).
        hidden_dim, output_dim: Projection MLP sizes (PCL v2's MLP; 128-d output).
        kmeans_niter, kmeans_nredo: Lloyd iterations and restarts per granularity (20, 5 in the reference).
        alpha: phi's smoothing (10).
        key_chunks: Chunks the key batch is split into for shuffle-BN.
        seed: Base seed of the E-step's k-means.
    """

    queue: torch.Tensor
    queue_ptr: torch.Tensor
    prototypes_ready: torch.Tensor

    def __init__(self, backbone: nn.Module, transform: Callable[..., list[torch.Tensor]],
                 eval_transform: Callable[..., torch.Tensor], inputs: torch.Tensor, num_clusters: Sequence[int],
                 temperature: float = 0.2, momentum: float = 0.999, queue_size: int = 16384, warmup_epochs: int = 20,
                 hidden_dim: int = 512, output_dim: int = 128, kmeans_niter: int = 20, kmeans_nredo: int = 1,
                 alpha: float = 10.0, key_chunks: int = 2, seed: int = 0, feature_batch_size: int = 512) -> None:
        super().__init__()
        if not num_clusters or min(num_clusters) < 2 or max(num_clusters) > len(inputs):
            raise ValueError(f"num_clusters must be in [2, {len(inputs)}], got {list(num_clusters)}")
        head = SimCLRProjectionHead(int(backbone.output_dim), hidden_dim, output_dim)  # type: ignore[arg-type]
        self.model = HeadModel(backbone, head)
        self.momentum_model = copy.deepcopy(self.model).requires_grad_(False)
        self.transform, self.eval_transform, self.inputs = transform, eval_transform, inputs
        self.num_clusters = list(num_clusters)
        self.temperature, self.momentum, self.warmup_epochs = temperature, momentum, warmup_epochs
        self.kmeans_niter, self.kmeans_nredo, self.alpha = kmeans_niter, kmeans_nredo, alpha
        self.key_chunks, self.seed, self.feature_batch_size = key_chunks, seed, feature_batch_size
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, output_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("prototypes_ready", torch.zeros((), dtype=torch.bool))
        for m, k in enumerate(self.num_clusters):
            self.register_buffer(f"centroids_{m}", torch.zeros(k, output_dim))
            self.register_buffer(f"phi_{m}", torch.ones(k))
            self.register_buffer(f"assignments_{m}", torch.zeros(len(inputs), dtype=torch.long))
        self.proto_loss = ProtoNCELoss()
        self._keys: torch.Tensor | None = None

    def _proto(self, name: str, m: int) -> torch.Tensor:
        return getattr(self, f"{name}_{m}")

    def e_step(self, state: TrainState) -> dict[str, float]:
        """k-means of the momentum embeddings at every granularity; prototypes and their concentration."""
        t0 = time.perf_counter()
        v = predict(self.momentum_model, self.inputs, self.eval_transform, state.runtime, self.feature_batch_size,
                    "pcl e-step").numpy()  # (N, D), unit norm
        metrics: dict[str, float] = {}
        for m, k in enumerate(self.num_clusters):
            result = kmeans(v, k, seed=self.seed * 100_003 + state.epoch * 31 + m, niter=self.kmeans_niter,
                            nredo=self.kmeans_nredo, device=state.runtime.device)
            dist = np.linalg.norm(v - result.centroids[result.assignments], axis=1)
            phi = concentration(dist, result.assignments, k, self.alpha, self.temperature)
            centroids = result.centroids / np.maximum(np.linalg.norm(result.centroids, axis=1, keepdims=True), 1e-12)
            self._proto("centroids", m).copy_(torch.from_numpy(centroids))
            self._proto("phi", m).copy_(torch.from_numpy(phi))
            self._proto("assignments", m).copy_(torch.from_numpy(result.assignments))
            sizes = np.bincount(result.assignments, minlength=k)
            metrics[f"empty_clusters_{k}"] = int((sizes == 0).sum())
        self.prototypes_ready.fill_(True)
        metrics["estep_seconds"] = time.perf_counter() - t0
        return metrics

    def on_epoch_start(self, state: TrainState) -> dict[str, float] | None:
        return self.e_step(state) if state.epoch >= self.warmup_epochs else None

    @torch.no_grad()
    def _embed_keys(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Key embeddings computed on shuffled chunks (shuffle-BN), returned in the batch's order."""
        perm = torch.randperm(len(x), generator=generator, device=generator.device).to(x.device)
        keys = torch.cat([self.momentum_model(chunk) for chunk in x[perm].chunk(self.key_chunks)])
        return keys[torch.argsort(perm)].float()  # type: ignore[no-any-return]

    def training_step(self, batch: dict[str, torch.Tensor], state: TrainState) -> LossOutput:
        """InfoNCE of the query view against its key and the queue, plus ProtoNCE once prototypes exist."""
        view_q, view_k = self.transform(batch["images"], state.generator)
        q = self.model(view_q).float()
        k = self._embed_keys(view_k, state.generator)
        loss = info_nce(q, k, self.queue.clone(), self.temperature)
        metrics = {"info_nce": loss.item()}
        if bool(self.prototypes_ready):
            idx = batch["index"]
            m_range = range(len(self.num_clusters))
            proto = self.proto_loss(q, [self._proto("centroids", m) for m in m_range],
                                    [self._proto("phi", m) for m in m_range],
                                    [self._proto("assignments", m)[idx] for m in m_range])
            loss = loss + proto
            metrics["proto_nce"] = proto.item()
        self._keys = gather_no_grad(k)  # every rank enqueues the global batch's keys: the queues stay equal
        return LossOutput(loss, metrics)

    @torch.no_grad()
    def on_after_step(self, state: TrainState) -> None:
        """Momentum update of the key encoder, then the batch's keys replace the oldest in the queue."""
        for p_k, p_q in zip(self.momentum_model.parameters(), self.model.parameters(), strict=True):
            p_k.mul_(self.momentum).add_(p_q.detach(), alpha=1.0 - self.momentum)
        if self._keys is None:
            return
        size = len(self.queue)
        keys, ptr = self._keys[-size:], int(self.queue_ptr)
        self.queue[(torch.arange(len(keys), device=keys.device) + ptr) % size] = keys
        self.queue_ptr.fill_((ptr + len(keys)) % size)
        self._keys = None

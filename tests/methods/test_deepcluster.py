"""DeepCluster: PCA-whitening + L2 against NumPy, the per-epoch E-step, top-layer re-initialisation, a short fit."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

from deepclust.engine import EpochBatches, Runtime, TrainState, constant_schedule, fit
from deepclust.methods.deepcluster import DeepCluster, pca_whiten_l2
from deepclust.models import build_backbone
from deepclust.transforms import EvalTransform, SimCLRViewTransform

RUNTIME = Runtime.auto(seed=0, device="cpu")


def _blobs(n_per: int = 24, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three kinds of 8x8 gray images (dark, bright, striped), uint8 (N, 8, 8, 1)."""
    rng = np.random.default_rng(seed)
    base = [np.full((8, 8), 40), np.full((8, 8), 210), np.tile([0, 255], (8, 4))]
    images = [np.clip(b + rng.normal(0, 12, (8, 8)), 0, 255) for b in base for _ in range(n_per)]
    labels = np.repeat(np.arange(3), n_per)
    return torch.from_numpy(np.stack(images).astype(np.uint8)[..., None]), labels


def _method(images: torch.Tensor, k: int = 6) -> DeepCluster:
    torch.manual_seed(0)
    view = SimCLRViewTransform(mean=[0.5], std=[0.3], crop_scale=(0.8, 1.0), hflip_prob=0.0, jitter_prob=0.0,
                               saturation=0.0, hue=0.0, grayscale_prob=0.0)
    return DeepCluster(build_backbone("small_cnn", 1, 4), view, EvalTransform([0.5], [0.3]), images, k,
                       pca_dim=8, kmeans_niter=10)


def test_pca_whiten_l2_matches_numpy() -> None:
    x = np.random.default_rng(0).normal(size=(200, 6)) @ np.random.default_rng(1).normal(size=(6, 6))
    centred = x - x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    top = np.argsort(values)[::-1][:4]
    expected = centred @ vectors[:, top] / np.sqrt(values[top] + 1e-5)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = pca_whiten_l2(x.astype(np.float32), 4)
    # Each axis is defined up to sign: compare |cosine| of matching columns and unit rows.
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.abs(got), np.abs(expected), atol=1e-4)


def test_pca_dim_is_capped_at_the_feature_size() -> None:
    assert pca_whiten_l2(np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32), 256).shape == (50, 5)


def test_epoch_start_clusters_resets_the_top_layer_and_its_optimizer_state() -> None:
    images, _ = _blobs()
    method = _method(images)
    opt = torch.optim.SGD([{"params": method.backbone.parameters()},
                           {"params": method.top_layer.parameters(), "momentum": 0.0}], lr=0.1, momentum=0.9)
    state = TrainState(RUNTIME, opt, epochs=2, generator=torch.Generator().manual_seed(0))
    method.on_epoch_start(state)
    labels = method.pseudo_labels.clone()
    assert (labels >= 0).all() and len(labels.unique()) > 1
    batch = {"images": images[:16], "index": torch.arange(16)}
    method.training_step(batch, state).loss.backward()
    opt.step()
    # Momentum buffers now exist for the trunk; give the top layer one too, as a stale optimiser would have.
    for p in method.top_layer.parameters():
        opt.state[p]["momentum_buffer"] = torch.ones_like(p)
    trunk_state = {id(p): opt.state[p]["momentum_buffer"].clone() for p in method.backbone.parameters()
                   if p in opt.state}
    state.epoch = 1
    metrics = method.on_epoch_start(state)
    assert all(p not in opt.state for p in method.top_layer.parameters())
    assert trunk_state and all(torch.equal(opt.state[p]["momentum_buffer"], trunk_state[id(p)])
                               for p in method.backbone.parameters() if id(p) in trunk_state)
    assert method.top_layer.bias.abs().sum() == 0 and method.top_layer.weight.std() < 0.02
    assert 0.0 <= metrics["nmi_previous"] <= 1.0
    assert len(method.epoch_order) == len(images)
    counts = np.bincount(method.pseudo_labels[method.epoch_order].numpy())
    assert counts[counts > 0].max() - counts[counts > 0].min() <= 1  # label-uniform sampling


def test_short_fit_learns_the_pseudo_labels_and_separates_the_kinds() -> None:
    images, labels = _blobs()
    method = _method(images, k=3)
    opt = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    batches = lambda epoch: EpochBatches(  # noqa: E731
        method.epoch_order, 24, lambda idx: {"images": images[idx], "index": idx})
    result = fit(method, opt, batches, epochs=4, runtime=RUNTIME, lr_schedule=constant_schedule(0.05, 4, 3))
    assert len(result.history) == 4 and all(np.isfinite(h["loss"]) for h in result.history)
    assert normalized_mutual_info_score(labels, method.pseudo_labels.numpy()) > 0.9

"""DEC and IDEC: k-means initialisation, the target refresh, the stop at settled labels, IDEC's loss, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score

from deepclust.engine import EpochBatches, Runtime, TrainState, constant_schedule, cyclic_order, fit
from deepclust.losses.dec_loss import student_t_assignment, target_distribution
from deepclust.methods.dec import DEC
from deepclust.models import AutoEncoder
from deepclust.transforms import FeatureTransform

RUNTIME = Runtime.auto(seed=0, device="cpu")


def _rows(seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Three well separated Gaussian blobs in 6-d."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, 6))
    labels = np.repeat(np.arange(3), 30)
    return torch.from_numpy((centres[labels] + rng.normal(0, 0.5, (90, 6))).astype(np.float32)), labels


def _dec(x: torch.Tensor, idec: bool = False, tol: float = 1e-3) -> tuple[DEC, AutoEncoder]:
    torch.manual_seed(0)
    ae = AutoEncoder(6, (16, 3))
    method = DEC(ae.backbone, FeatureTransform(l2_normalize=False), x, 3, tol=tol, decoder=ae.decoder if idec else None,
                 kmeans_nredo=3)
    return method, ae


def _fit(method: DEC, x: torch.Tensor, epochs: int, run_dir: Path | None = None, lr: float = 0.01):
    opt = torch.optim.SGD(method.parameters(), lr=lr, momentum=0.9)
    batches = lambda e: EpochBatches(cyclic_order(len(x), e * 60, 60, 0), 30,  # noqa: E731
                                     lambda idx: {"images": x[idx], "index": idx})
    return fit(method, opt, batches, epochs=epochs, runtime=RUNTIME, lr_schedule=constant_schedule(lr, epochs, 2),
               run_dir=run_dir, fingerprint="dec")


def test_centroids_start_at_kmeans_of_the_embedding_and_targets_are_p_of_q() -> None:
    x, _ = _rows()
    method, ae = _dec(x)
    state = TrainState(RUNTIME, torch.optim.SGD(method.parameters(), lr=0.1), epochs=1)
    method.on_fit_start(state)
    with torch.no_grad():
        z = ae.backbone(x)
    labels = torch.cdist(z, method.head.centroids).argmin(1)
    for j in range(3):  # each centroid is the mean of its members (a converged Lloyd step)
        assert torch.allclose(method.head.centroids[j], z[labels == j].mean(0), atol=1e-3)
    metrics = method.on_epoch_start(state)
    with torch.no_grad():
        q = student_t_assignment(z, method.head.centroids)
    assert torch.allclose(method.targets, target_distribution(q), atol=1e-5)
    assert metrics["label_change"] == 1.0 and not state.stop


def test_stops_when_labels_settle_and_trains_no_batch_after() -> None:
    x, labels = _rows()
    method, _ = _dec(x, tol=0.02)
    result = _fit(method, x, epochs=30)
    assert result.stopped and "labels changed" in result.stop_reason
    assert len(result.history) < 30 and "loss" not in result.history[-1]
    assert adjusted_rand_score(labels, method.labels.numpy()) > 0.95


def test_idec_loss_is_reconstruction_plus_gamma_kl() -> None:
    x, _ = _rows()
    method, ae = _dec(x, idec=True)
    state = TrainState(RUNTIME, torch.optim.SGD(method.parameters(), lr=0.1), epochs=1)
    method.on_fit_start(state)
    method.on_epoch_start(state)
    idx = torch.arange(10)
    out = method.training_step({"images": x[idx], "index": idx}, state)
    z, recon = ae(x[idx])
    expected_r = F.mse_loss(recon, x[idx]).item()
    assert out.metrics["reconstruction"] == pytest.approx(expected_r, rel=1e-5)
    assert out.loss.item() == pytest.approx(expected_r + 0.1 * out.metrics["kl"], rel=1e-5)


def test_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    x, _ = _rows()
    straight, _ = _dec(x, tol=0.0)
    _fit(straight, x, 4, tmp_path / "a")
    interrupted, _ = _dec(x, tol=0.0)
    _fit(interrupted, x, 2, tmp_path / "b")
    resumed, _ = _dec(x, tol=0.0)
    _fit(resumed, x, 4, tmp_path / "b")
    for key, value in straight.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-5), key

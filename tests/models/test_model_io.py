"""save_model / load_contrastive / load_clustering: exact round trip, strict loading, missing files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepclust.engine import save_checkpoint
from deepclust.errors import DeepclustError
from deepclust.models import (
    ClusteringHead,
    ClusteringModel,
    ContrastiveModel,
    SimCLRProjectionHead,
    build_backbone,
)
from deepclust.models.io import load_clustering, load_contrastive, save_model

CFG = {"backbone": "small_cnn", "width": 4, "in_channels": 1, "hidden_dim": 16, "output_dim": 8}


def _contrastive() -> ContrastiveModel:
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", 1, 4)
    model = ContrastiveModel(backbone, SimCLRProjectionHead(backbone.output_dim, 16, 8))
    model.train()
    with torch.no_grad():  # non-default BatchNorm statistics, so the round trip has to carry buffers
        model(torch.randn(16, 1, 8, 8))
    return model


def _clustering(num_heads: int = 2) -> ClusteringModel:
    backbone = _contrastive().backbone
    return ClusteringModel(backbone, ClusteringHead(backbone.output_dim, 3, num_heads))


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_contrastive_round_trip(tmp_path: Path) -> None:
    model = _contrastive()
    save_model(tmp_path / "model.pt", model, CFG)
    loaded, cfg = load_contrastive(tmp_path / "model.pt")
    assert cfg == CFG
    _assert_same_state(model, loaded)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded.eval()(x))


def test_clustering_round_trip(tmp_path: Path) -> None:
    model = _clustering(num_heads=2)
    cfg = dict(CFG, num_clusters=3, num_heads=2)
    save_model(tmp_path / "model.pt", model, cfg)
    loaded, got = load_clustering(tmp_path / "model.pt")
    assert got == cfg
    _assert_same_state(model, loaded)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        out = loaded.eval()(x)
        assert out.shape == (2, 4, 3)
        assert torch.equal(model.eval()(x), out)
    assert not list(tmp_path.glob(".*.tmp"))


def _save_state(path: Path, state: dict, cfg: dict) -> None:
    save_checkpoint(path, "", {"config": cfg}, model=state)


def test_missing_backbone_key_is_an_error(tmp_path: Path) -> None:
    state = _contrastive().state_dict()
    del state["backbone.features.0.weight"]
    _save_state(tmp_path / "model.pt", state, CFG)
    with pytest.raises(DeepclustError, match="missing.*backbone.features.0.weight"):
        load_contrastive(tmp_path / "model.pt")


def test_dataparallel_prefix_is_an_error(tmp_path: Path) -> None:
    # A DataParallel/DDP state dict has every key under "module."; loading it with strict=False would
    # silently leave the whole model at its random initialisation.
    state = {f"module.{k}": v for k, v in _clustering(1).state_dict().items()}
    _save_state(tmp_path / "model.pt", state, dict(CFG, num_clusters=3, num_heads=1))
    with pytest.raises(DeepclustError, match="unexpected.*module\\."):
        load_clustering(tmp_path / "model.pt")


def test_wrong_number_of_heads_is_an_error(tmp_path: Path) -> None:
    save_model(tmp_path / "model.pt", _clustering(num_heads=2), dict(CFG, num_clusters=3, num_heads=1))
    with pytest.raises(DeepclustError, match="unexpected.*head.heads.1"):
        load_clustering(tmp_path / "model.pt")


def test_missing_file_is_a_missing_upstream_artifact(tmp_path: Path) -> None:
    with pytest.raises(DeepclustError, match="missing upstream artifact"):
        load_contrastive(tmp_path / "nope.pt")
    with pytest.raises(DeepclustError, match="missing upstream artifact"):
        load_clustering(tmp_path / "nope.pt")


def test_not_a_model_file(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt.pt", "abc", {"epoch": 1}, method={"w": torch.zeros(1)})
    with pytest.raises(DeepclustError, match="not a deepclust model file"):
        load_contrastive(tmp_path / "ckpt.pt")

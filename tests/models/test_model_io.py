"""save_model / load_model: the architecture travels with the weights; exact round trips, strict loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepclust.engine import save_checkpoint
from deepclust.errors import DeepclustError
from deepclust.models import (
    AutoEncoder,
    ClusteringHead,
    HeadModel,
    MultiKClusteringHead,
    SimCLRProjectionHead,
    StudentTHead,
    architecture,
    build_backbone,
)
from deepclust.models.io import load_backbone, load_clustering, load_contrastive, load_model, save_model


def _contrastive() -> HeadModel:
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", 1, 4)
    model = HeadModel(backbone, SimCLRProjectionHead(backbone.output_dim, 16, 8))
    model.train()
    with torch.no_grad():  # non-default BatchNorm statistics, so the round trip has to carry buffers
        model(torch.randn(16, 1, 8, 8))
    return model


def _clustering(num_heads: int = 2, hidden_dim: int | None = None) -> HeadModel:
    backbone = _contrastive().backbone
    return HeadModel(backbone, ClusteringHead(backbone.output_dim, 3, num_heads, hidden_dim))


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_contrastive_round_trip(tmp_path: Path) -> None:
    model = _contrastive()
    save_model(tmp_path / "model.pt", model)
    loaded, arch = load_contrastive(tmp_path / "model.pt")
    assert arch == {"model": "contrastive", "backbone": {"name": "small_cnn", "in_channels": 1, "width": 4},
                    "head": {"kind": "simclr", "input_dim": 16, "hidden_dim": 16, "output_dim": 8}}
    _assert_same_state(model, loaded)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), loaded.eval()(x))


@pytest.mark.parametrize(("num_heads", "hidden_dim", "kind"), [(2, None, "linear"), (1, 8, "mlp")])
def test_clustering_round_trip_records_the_head_kind(tmp_path: Path, num_heads: int, hidden_dim: int | None,
                                                     kind: str) -> None:
    model = _clustering(num_heads, hidden_dim)
    save_model(tmp_path / "model.pt", model, {"selected_epoch": 3})
    loaded, arch = load_clustering(tmp_path / "model.pt")
    assert arch["head"] == {"kind": kind, "input_dim": 16, "num_clusters": 3, "num_heads": num_heads,
                            "hidden_dim": hidden_dim}
    _assert_same_state(model, loaded)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        out = loaded.eval()(x)
        assert out.shape == (num_heads, 4, 3)
        assert torch.equal(model.eval()(x), out)
    assert not list(tmp_path.glob(".*.tmp"))


def test_several_k_head_round_trip(tmp_path: Path) -> None:
    backbone = build_backbone("identity", input_dim=6)
    model = HeadModel(backbone, MultiKClusteringHead(6, [3, 7], num_heads=2))
    save_model(tmp_path / "model.pt", model)
    loaded, arch = load_clustering(tmp_path / "model.pt")
    assert arch["head"]["kind"] == "multi_k" and arch["head"]["num_clusters"] == [3, 7]
    x = torch.randn(5, 6)
    with torch.no_grad():
        assert [o.shape for o in loaded(x)] == [(2, 5, 3), (2, 5, 7)]
        assert all(torch.equal(a, b) for a, b in zip(model(x), loaded(x), strict=True))


def test_autoencoder_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = AutoEncoder(12, (8, 4))
    save_model(tmp_path / "ae.pt", model)
    loaded, arch = load_model(tmp_path / "ae.pt", "autoencoder", ("autoencoder",))
    assert arch == {"model": "autoencoder", "input_dim": 12, "hidden_dims": [8, 4]}
    x = torch.randn(3, 12)
    z, recon = loaded(x)
    assert z.shape == (3, 4) and recon.shape == (3, 12)
    assert torch.equal(model(x)[1], recon)


def test_any_backbone_producer_feeds_a_backbone_consumer(tmp_path: Path) -> None:
    save_model(tmp_path / "pretext.pt", _contrastive())
    save_model(tmp_path / "scan.pt", _clustering())
    for name in ("pretext.pt", "scan.pt"):
        assert load_backbone(tmp_path / name).backbone.arch["name"] == "small_cnn"
    save_model(tmp_path / "ae.pt", AutoEncoder(12, (8, 4)))
    encoder = load_backbone(tmp_path / "ae.pt").backbone
    assert encoder.arch == {"name": "mlp", "input_dim": 12, "hidden_dims": [8, 4]} and encoder.output_dim == 4


def test_dec_clustering_model_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ae = AutoEncoder(12, (8, 4))
    head = StudentTHead(4, 3)
    with torch.no_grad():
        head.centroids.normal_()
    model = HeadModel(ae.backbone, head)
    save_model(tmp_path / "dec.pt", model)
    loaded, arch = load_clustering(tmp_path / "dec.pt")
    assert arch["head"] == {"kind": "student_t", "input_dim": 4, "num_clusters": 3, "alpha": 1.0}
    x = torch.randn(5, 12)
    logits = loaded(x)
    assert logits.shape == (1, 5, 3) and torch.allclose(logits.exp().sum(-1), torch.ones(1, 5))
    assert torch.equal(logits, model(x))


def test_sobel_backbone_round_trip_sees_gradients_not_colour(tmp_path: Path) -> None:
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", 3, 4, sobel=True)
    assert backbone.arch == {"name": "small_cnn", "in_channels": 3, "width": 4, "sobel": True}
    assert not backbone.sobel.weight.requires_grad
    flat = torch.full((2, 3, 8, 8), 0.7)
    edges = backbone.sobel(flat.mean(1, keepdim=True))
    assert edges[:, :, 1:-1, 1:-1].abs().max() < 1e-6  # a flat image has no gradient inside
    model = HeadModel(backbone, SimCLRProjectionHead(backbone.output_dim, 8, 4))
    save_model(tmp_path / "sobel.pt", model)
    loaded = load_backbone(tmp_path / "sobel.pt")
    x = torch.rand(2, 3, 8, 8)
    model.eval(), loaded.eval()
    assert torch.equal(model(x), loaded(x))


def test_wrong_model_kind_is_an_error(tmp_path: Path) -> None:
    save_model(tmp_path / "model.pt", _contrastive())
    with pytest.raises(DeepclustError, match="holds a contrastive model; clustering model must be one of"):
        load_clustering(tmp_path / "model.pt")


def _save_state(path: Path, state: dict, arch: dict) -> None:
    save_checkpoint(path, "", {"config": arch}, model=state)


def test_missing_backbone_key_is_an_error(tmp_path: Path) -> None:
    model = _contrastive()
    state = model.state_dict()
    del state["backbone.features.0.weight"]
    _save_state(tmp_path / "model.pt", state, architecture(model))
    with pytest.raises(DeepclustError, match="missing.*backbone.features.0.weight"):
        load_contrastive(tmp_path / "model.pt")


def test_dataparallel_prefix_is_an_error(tmp_path: Path) -> None:
    # A DataParallel/DDP state dict has every key under "module."; loading it with strict=False would
    # silently leave the whole model at its random initialisation.
    model = _clustering(1)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    _save_state(tmp_path / "model.pt", state, architecture(model))
    with pytest.raises(DeepclustError, match="unexpected.*module\\."):
        load_clustering(tmp_path / "model.pt")


def test_wrong_number_of_heads_is_an_error(tmp_path: Path) -> None:
    arch = architecture(_clustering(num_heads=1))
    _save_state(tmp_path / "model.pt", _clustering(num_heads=2).state_dict(), arch)
    with pytest.raises(DeepclustError, match="unexpected.*head.heads.1"):
        load_clustering(tmp_path / "model.pt")


def test_unbuildable_architecture_is_an_error(tmp_path: Path) -> None:
    _save_state(tmp_path / "model.pt", {}, {"model": "clustering", "backbone": {"name": "vit"}, "head": {}})
    with pytest.raises(DeepclustError, match="cannot rebuild the model"):
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


def test_autoencoder_input_scale_round_trip(tmp_path: Path) -> None:
    """An autoencoder trained on scaled pixels (DEC-keras: x / 255) records the scale for its consumers."""
    model = AutoEncoder(16, [8, 4], input_scale=0.02)
    save_model(tmp_path / "model.pt", model)
    loaded, arch = load_model(tmp_path / "model.pt", "autoencoder")
    assert arch == {"model": "autoencoder", "input_dim": 16, "hidden_dims": [8, 4], "input_scale": 0.02}
    assert loaded.backbone.arch["input_scale"] == 0.02
    assert "input_scale" not in AutoEncoder(16, [8, 4]).arch  # the default keeps the old record
    with pytest.raises(ValueError, match="input_scale"):
        AutoEncoder(16, [8, 4], input_scale=0.0)

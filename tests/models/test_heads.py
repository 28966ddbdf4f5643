"""Heads: SimCLR projection (512-512-128, unit norm), generic ProjectionHead, multi-head clustering."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepclust.models import ClusteringHead, ProjectionHead, SimCLRProjectionHead


def test_simclr_head_default_is_512_512_128() -> None:
    head = SimCLRProjectionHead()
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 512), (512, 128)]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in head.modules())
    assert isinstance(head.layers[1], nn.ReLU)


@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize(("input_dim", "hidden_dim", "output_dim"), [(512, 512, 128), (16, 8, 4)])
def test_simclr_head_output_is_unit_norm(batch_size: int, input_dim: int, hidden_dim: int,
                                         output_dim: int) -> None:
    torch.manual_seed(0)
    out = SimCLRProjectionHead(input_dim, hidden_dim, output_dim)(10 * torch.randn(batch_size, input_dim))
    assert out.shape == (batch_size, output_dim)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(batch_size))


def test_projection_head_blocks() -> None:
    head = ProjectionHead([(6, 5, nn.BatchNorm1d(5), nn.ReLU()), (5, 3, None, None)])
    first, last = head.layers[0], head.layers[-1]
    assert first.bias is None  # a BatchNorm follows: the bias would be redundant
    assert last.bias is not None
    assert head(torch.randn(4, 6)).shape == (4, 3)


@pytest.mark.parametrize("num_heads", [1, 3])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_clustering_head_shape(num_heads: int, batch_size: int) -> None:
    head = ClusteringHead(input_dim=12, num_clusters=5, num_heads=num_heads)
    out = head(torch.randn(batch_size, 12))
    assert out.shape == (num_heads, batch_size, 5)


def test_clustering_heads_are_independent() -> None:
    torch.manual_seed(0)
    out = ClusteringHead(8, 4, 3)(torch.randn(6, 8))
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("index", [0, 2])
def test_keep_copies_head(index: int) -> None:
    torch.manual_seed(0)
    head = ClusteringHead(8, 4, 3)
    x = torch.randn(5, 8)
    kept = head.keep(index)
    assert len(kept.heads) == 1
    torch.testing.assert_close(kept(x)[0], head(x)[index], rtol=0, atol=0)
    with torch.no_grad():  # a copy: later changes to the original do not leak into it
        head.heads[index].weight.add_(1.0)
    assert not torch.equal(kept.heads[0].weight, head.heads[index].weight)


def test_clustering_head_value_errors() -> None:
    with pytest.raises(ValueError, match="num_clusters"):
        ClusteringHead(8, 1)
    with pytest.raises(ValueError, match="num_heads"):
        ClusteringHead(8, 3, num_heads=0)


def test_mlp_clustering_head_and_keep() -> None:
    from deepclust.models import ClusteringHead

    torch.manual_seed(0)
    head = ClusteringHead(6, 4, num_heads=3, hidden_dim=10).eval()
    x = torch.randn(5, 6)
    out = head(x)
    assert out.shape == (3, 5, 4) and head.arch["kind"] == "mlp"
    single = head.keep(2).eval()
    assert single.arch == {**head.arch, "num_heads": 1}
    assert torch.equal(single(x)[0], out[2])


def test_multi_k_head_gives_one_output_per_k() -> None:
    from deepclust.models import MultiKClusteringHead

    head = MultiKClusteringHead(6, [10, 70], num_heads=5)
    outs = head(torch.randn(2, 6))
    assert [o.shape for o in outs] == [(5, 2, 10), (5, 2, 70)]
    with pytest.raises(ValueError, match="at least one K"):
        MultiKClusteringHead(6, [])


def test_build_head_rejects_unknown_kind() -> None:
    from deepclust.models import build_head

    with pytest.raises(ValueError, match="unknown head kind 'vq'"):
        build_head({"kind": "vq"})

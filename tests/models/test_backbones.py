"""Backbones: output shapes for every BACKBONES entry, spatial sizes of the stems, and bad arguments."""

from __future__ import annotations

import pytest
import torch

from deepclust.errors import DeepclustError
from deepclust.models import BACKBONES, ResNet, SmallCNN, build_backbone

# (name, image side, batch size, expected feature size); every BACKBONES entry must appear here.
CASES = [
    ("resnet18", 32, 2, 512),
    ("resnet34", 32, 2, 512),
    ("resnet18_stl", 96, 2, 512),
    ("small_cnn", 8, 3, 4 * 4),
    ("small_cnn", 28, 3, 4 * 4),
    ("small_cnn", 32, 3, 4 * 4),
    ("small_cnn_s2", 8, 3, 4 * 4),
    ("small_cnn_s2", 32, 3, 4 * 4),
]


def test_every_backbone_is_covered() -> None:
    assert {name for name, *_ in CASES} | {"identity", "mlp"} == set(BACKBONES)


def test_mlp_backbone_is_decs_encoder() -> None:
    model = build_backbone("mlp", input_dim=12, hidden_dims=[8, 6, 4])
    assert model.arch == {"name": "mlp", "input_dim": 12, "hidden_dims": [8, 6, 4]} and model.output_dim == 4
    layers = [type(m).__name__ for m in model.layers]
    assert layers == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]  # the embedding is linear
    assert model(torch.randn(2, 3, 2, 2)).shape == (2, 4)  # images are flattened
    assert build_backbone("mlp", input_dim=784).arch["hidden_dims"] == [500, 500, 2000, 10]
    with pytest.raises(DeepclustError, match="input_dim"):
        build_backbone("mlp")
    with pytest.raises(DeepclustError, match="sobel"):
        build_backbone("mlp", input_dim=4, sobel=True)


def test_identity_backbone_passes_feature_rows_through() -> None:
    model = build_backbone("identity", input_dim=5)
    x = torch.randn(3, 5)
    assert torch.equal(model(x), x) and model.output_dim == 5
    assert model.arch == {"name": "identity", "input_dim": 5}
    with pytest.raises(DeepclustError, match="input_dim"):
        build_backbone("identity")


@pytest.mark.parametrize("name", ["resnet18", "small_cnn", "small_cnn_s2"])
def test_build_backbone_records_its_architecture(name: str) -> None:
    assert build_backbone(name, in_channels=1, width=4).arch == {"name": name, "in_channels": 1, "width": 4}


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize(("name", "side", "batch", "dim"), CASES)
def test_output_shape(name: str, side: int, batch: int, dim: int, in_channels: int) -> None:
    torch.manual_seed(0)
    model = build_backbone(name, in_channels=in_channels, width=4).eval()
    with torch.no_grad():
        out = model(torch.randn(batch, in_channels, side, side))
    assert out.shape == (batch, dim)
    assert model.output_dim == dim
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("name", "side", "spatial"), [("resnet18", 32, 4), ("resnet18_stl", 96, 7)])
def test_resnet_stem_spatial_size(name: str, side: int, spatial: int) -> None:
    # CIFAR stem: 32 -> 32 -> 16 -> 8 -> 4. STL stem: 96 -> maxpool(2, 2, pad 1) 49 -> 25 -> 13 -> 7.
    model = build_backbone(name, in_channels=3).eval()
    seen: dict[str, tuple[int, ...]] = {}

    def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen["shape"] = tuple(output.shape)

    model.layer4.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.randn(1, 3, side, side))
    assert seen["shape"] == (1, 512, spatial, spatial)


def test_small_cnn_width_sets_output_dim() -> None:
    assert build_backbone("small_cnn", 1, width=8).output_dim == 32
    assert isinstance(build_backbone("small_cnn", 1, 8), SmallCNN)
    assert isinstance(build_backbone("resnet18", 1), ResNet)


@pytest.mark.parametrize(("name", "spatial"), [("small_cnn", 8), ("small_cnn_s2", 4)])
def test_small_cnn_stem_stride_halves_every_stage(name: str, spatial: int) -> None:
    # 32x32 input: the stride-1 stem keeps 32 -> 16 -> 8; the stride-2 stem gives 16 -> 8 -> 4, same weights' shapes.
    model = build_backbone(name, 3, width=4).eval()
    with torch.no_grad():
        maps = model.features(torch.randn(1, 3, 32, 32))
    assert maps.shape == (1, 16, spatial, spatial)
    assert [p.shape for p in model.parameters()] == [p.shape for p in build_backbone("small_cnn", 3, 4).parameters()]


def test_resnet_init_follows_scan() -> None:
    model = build_backbone("resnet18", 3)
    bn = model.stem[1]
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_unknown_backbone_is_a_deepclust_error() -> None:
    with pytest.raises(DeepclustError, match="unknown backbone 'resnet9000'"):
        build_backbone("resnet9000")


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="width"):
        SmallCNN(1, width=0)
    with pytest.raises(ValueError, match="stem_stride"):
        SmallCNN(1, width=4, stem_stride=3)
    with pytest.raises(ValueError, match="stem"):
        ResNet((2, 2, 2, 2), 3, stem="imagenet")

"""Backbones: CIFAR-stem ResNet-18/34, the STL-10 variant, and a small CNN for small images and CPU budgets.

Every backbone maps images (B, C, H, W) to features (B, output_dim) and exposes `output_dim`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from deepclust.errors import DeepclustError


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs) with a projection shortcut when the shape changes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet with SCAN's small-image stem: 3x3 stride-1 conv1 and no max-pool (CIFAR, 32 -> 4 spatially).

    The STL-10 variant (`stem="stl"`) adds SCAN's MaxPool(2, 2, padding 1) after conv1 (96 -> 7 spatially).
    Initialisation follows SCAN's models/resnet_cifar.py: Kaiming-normal (fan_out) convs, BN weight 1, bias 0.

    Args:
        num_blocks: Blocks per stage, e.g. (2, 2, 2, 2) for ResNet-18.
        in_channels: Image channels (1 for MNIST/digits, 3 for RGB).
        stem: "cifar" or "stl".
    """

    def __init__(self, num_blocks: tuple[int, int, int, int], in_channels: int = 3, stem: str = "cifar") -> None:
        super().__init__()
        if stem not in ("cifar", "stl"):
            raise ValueError(f"stem must be 'cifar' or 'stl', got {stem!r}")
        self.in_planes = 64
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        ]
        if stem == "stl":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, padding=1))
        self.stem = nn.Sequential(*layers)
        self.layer1 = self._make_layer(64, num_blocks[0], 1)
        self.layer2 = self._make_layer(128, num_blocks[1], 2)
        self.layer3 = self._make_layer(256, num_blocks[2], 2)
        self.layer4 = self._make_layer(512, num_blocks[3], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = 512
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.pool(x), 1)  # (B, 512)


class SmallCNN(nn.Module):
    """A small VGG-style CNN for 8x8 to 32x32 images on a CPU budget: three stages of two 3x3 convs.

    Widths are (width, 2*width, 4*width); stages 2 and 3 start with a stride-2 conv; global average pooling
    gives `output_dim = 4 * width` features. About 0.3 M parameters at width 32.

    Args:
        in_channels: Image channels.
        width: Channels of the first stage.
    """

    def __init__(self, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")

        def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *conv(in_channels, w), *conv(w, w),
            *conv(w, 2 * w, 2), *conv(2 * w, 2 * w),
            *conv(2 * w, 4 * w, 2), *conv(4 * w, 4 * w),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output_dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.features(x)), 1)  # (B, 4 * width)


class IdentityBackbone(nn.Module):
    """The input itself as the features: the backbone of a model trained on a feature table (e.g. CLIP
    embeddings) or on flattened pixels, so heads, methods and artifacts need no special case for it.

    Args:
        input_dim: Feature size D of the input rows.
    """

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        if input_dim < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)  # (B, D)


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": lambda in_channels=3, **kw: ResNet((2, 2, 2, 2), in_channels, "cifar"),
    "resnet34": lambda in_channels=3, **kw: ResNet((3, 4, 6, 3), in_channels, "cifar"),
    "resnet18_stl": lambda in_channels=3, **kw: ResNet((2, 2, 2, 2), in_channels, "stl"),
    "small_cnn": lambda in_channels=3, width=32, **kw: SmallCNN(in_channels, width),
    "identity": lambda input_dim=1, **kw: IdentityBackbone(input_dim),
}


def build_backbone(name: str, in_channels: int = 3, width: int = 32, input_dim: int | None = None) -> nn.Module:
    """Builds a backbone by name from `BACKBONES` and records how in its `arch` attribute.

    `arch` is what a saved model stores so that any consumer can rebuild the backbone (models/io.py).

    Args:
        name: A key of `BACKBONES`.
        in_channels: Image channels (convolutional backbones).
        width: small_cnn width (ignored by the others).
        input_dim: Feature size of an `identity` backbone (required for it, ignored by the others).

    Raises:
        DeepclustError: If `name` is not a known backbone, or `identity` lacks `input_dim`.
    """
    if name not in BACKBONES:
        raise DeepclustError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    if name == "identity":
        if input_dim is None:
            raise DeepclustError("the identity backbone needs input_dim (the feature size)")
        backbone = BACKBONES[name](input_dim=input_dim)
        arch: dict[str, Any] = {"name": name, "input_dim": int(input_dim)}
    else:
        backbone = BACKBONES[name](in_channels=in_channels, width=width)
        arch = {"name": name, "in_channels": int(in_channels), "width": int(width)}
    setattr(backbone, "arch", arch)  # noqa: B010 - a plain attribute; nn.Module's typing would call it a Module
    return backbone

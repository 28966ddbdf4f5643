"""Backbones: CIFAR-stem ResNet-18/34, the STL-10 variant, and a small CNN for small images and CPU budgets.

Every backbone maps images (B, C, H, W) to features (B, output_dim) and exposes `output_dim`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

    A stride-2 stem (`small_cnn_s2`) runs the first stage at half resolution: on 32x32 colour images it
    trains about 4x faster than the full-resolution stem at the same width, which buys a wider network
    and more epochs in a CPU budget (16x16 -> 8x8 -> 4x4 feature maps).

    Args:
        in_channels: Image channels.
        width: Channels of the first stage.
        stem_stride: Stride of the first conv (1, or 2 for 32x32 images on a CPU budget).
    """

    def __init__(self, in_channels: int = 3, width: int = 32, stem_stride: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")

        def conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *conv(in_channels, w, stem_stride), *conv(w, w),
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


class MLPBackbone(nn.Module):
    """Fully connected layers with ReLU between them and none after the last: DEC's encoder d-500-500-2000-10.

    The input is flattened, so it reads normalised images as well as feature rows.

    Args:
        input_dim: Input size d.
        hidden_dims: Layer sizes; the last one is the embedding (`output_dim`).
        input_scale: The pixel scale its image inputs are made with, recorded for every consumer: pixel values
            (0-255) times this (DEC-keras 1/255, DEC's Caffe 0.02); None: the data set's mean/std normalisation.
            The backbone itself only reads what it is given (`stages.inputs` builds the transform).
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], input_scale: float | None = None) -> None:
        super().__init__()
        if input_dim < 1 or not hidden_dims or min(hidden_dims) < 1:
            raise ValueError(f"input_dim and hidden_dims must be positive, got {input_dim}, {list(hidden_dims)}")
        if input_scale is not None and not input_scale > 0:
            raise ValueError(f"input_scale must be positive or None, got {input_scale}")
        self.layers = mlp([input_dim, *hidden_dims])
        self.output_dim = int(hidden_dims[-1])
        self.input_scale = input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))  # (B, hidden_dims[-1])


def mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them and none after the last (an embedding or reconstruction is linear)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SobelBackbone(nn.Module):
    """A frozen grayscale + Sobel filter in front of a convolutional backbone (DeepCluster's `--sobel`).

    The image is turned gray (channel mean), then two fixed 3x3 Sobel filters give the horizontal and
    vertical gradients, so the backbone sees 2 channels and cannot cluster by colour (arXiv 1807.05520, 3.3).

    Args:
        backbone: A backbone built with `in_channels=2`.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.sobel = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        kernel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
        self.sobel.weight.data.copy_(torch.stack([kernel, kernel.t()]).unsqueeze(1))
        self.sobel.weight.requires_grad_(False)
        self.net = backbone
        self.output_dim = backbone.output_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.sobel(x.mean(dim=1, keepdim=True)))


BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": lambda in_channels=3, **kw: ResNet((2, 2, 2, 2), in_channels, "cifar"),
    "resnet34": lambda in_channels=3, **kw: ResNet((3, 4, 6, 3), in_channels, "cifar"),
    "resnet18_stl": lambda in_channels=3, **kw: ResNet((2, 2, 2, 2), in_channels, "stl"),
    "small_cnn": lambda in_channels=3, width=32, **kw: SmallCNN(in_channels, width),
    "small_cnn_s2": lambda in_channels=3, width=32, **kw: SmallCNN(in_channels, width, stem_stride=2),
    "identity": lambda input_dim=1, **kw: IdentityBackbone(input_dim),
    "mlp": lambda input_dim=1, hidden_dims=(500, 500, 2000, 10), input_scale=None, **kw: MLPBackbone(
        input_dim, hidden_dims, input_scale),
}


def build_backbone(name: str, in_channels: int = 3, width: int = 32, input_dim: int | None = None,
                   hidden_dims: Sequence[int] | None = None, sobel: bool = False,
                   input_scale: float | None = None, **pretrained: Any) -> nn.Module:
    """Builds a backbone by name from `BACKBONES` and records how in its `arch` attribute.

    `arch` is what a saved model stores so that any consumer can rebuild the backbone (models/io.py):
    `build_backbone(**backbone.arch)` gives the same architecture, untrained. A pretrained torchvision network
    ("torchvision") is built with weights by `deepclust.models.pretrained.pretrained_backbone`; here it is
    rebuilt from its record without reading any weights.

    Args:
        name: A key of `BACKBONES`.
        in_channels: Image channels (convolutional backbones).
        width: small_cnn width (ignored by the others).
        input_dim: Input size of an `identity` or `mlp` backbone (required for them, ignored by the others).
        hidden_dims: Layer sizes of an `mlp` backbone (DEC: 500, 500, 2000, 10).
        sobel: Put a frozen grayscale + Sobel filter in front of a convolutional backbone.
        input_scale: `mlp`: the pixel scale of its image inputs (see `MLPBackbone`); recorded in `arch` when set.
        **pretrained: The rest of a "torchvision" backbone's record (`network`, `weights`, `frozen`, `input_size`,
            `resize_size`, `mean`, `std`, `checkpoint`); see `rebuild_torchvision_backbone`.

    Raises:
        DeepclustError: If `name` is not a known backbone, `identity`/`mlp` lacks `input_dim`, Sobel is asked
            of a backbone that does not read images, or options of a torchvision backbone reach another one.
    """
    if name == "torchvision":
        from deepclust.models.pretrained import rebuild_torchvision_backbone

        if "network" not in pretrained:
            raise DeepclustError("the torchvision backbone needs network (a torchvision model name, e.g. resnet50)")
        return rebuild_torchvision_backbone(**pretrained)
    if pretrained:
        raise DeepclustError(f"backbone {name!r} takes no option {sorted(pretrained)[0]!r}")
    if name not in BACKBONES:
        raise DeepclustError(f"unknown backbone {name!r}; expected one of {sorted([*BACKBONES, 'torchvision'])}")
    arch: dict[str, Any]
    if name in ("identity", "mlp"):
        if input_dim is None:
            raise DeepclustError(f"the {name} backbone needs input_dim (the input size)")
        if sobel:
            raise DeepclustError(f"sobel needs an image backbone, not {name}")
        arch = {"name": name, "input_dim": int(input_dim)}
        if name == "mlp":
            arch["hidden_dims"] = [int(d) for d in (hidden_dims or (500, 500, 2000, 10))]
            if input_scale is not None:
                arch["input_scale"] = float(input_scale)
        backbone = BACKBONES[name](**{k: v for k, v in arch.items() if k != "name"})
    else:
        backbone = BACKBONES[name](in_channels=2 if sobel else in_channels, width=width)
        arch = {"name": name, "in_channels": int(in_channels), "width": int(width)}
        if sobel:
            backbone, arch["sobel"] = SobelBackbone(backbone), True
    setattr(backbone, "arch", arch)  # noqa: B010 - a plain attribute; nn.Module's typing would call it a Module
    return backbone

"""Encoders: image batch (N, 3, H, W) -> penultimate feature vector (N, d).

All are in "CIFAR form" (no aggressive early down-sampling), as in the paper:

- ``resnet18``: 3x3 stride-1 stem, no max-pool, four stages; global average pool, so d = 512 at
  any input size (32, 64 or 96 px).
- ``resnet18-authors``: the same network with the authors' head: ``avg_pool2d(4)`` then flatten,
  so d = 512 at 32 px, 2048 at 64 px and 4608 at 96 px (their STL-10 code). Parameter names match
  the authors' ``EmbeddingResNet`` so their state dicts load as they are.
- ``vgg16bn``: VGG-16 with batch norm, 5 max-pools, global average pool, d = 512.
- ``mobilenetv2``: MobileNetV2 with stride 1 in the stem and the second stage (kuangliu's CIFAR
  variant), d = 1280.
- ``smallcnn``: four conv-BN-ReLU blocks (16-32-64-128), d = 128; for CPU work.
- ``tinycnn``: the same with half the widths (8-16-32-64), d = 64; the embedded demo's encoder.
- ``airbench-s``: airbench94's layout (Jordan 2024) at widths 32-64-128, GELU, global max-pool,
  d = 128; the full-scale CPU study's encoder.

Every encoder but ``airbench-s`` ends with ReLU then pooling, so its features are non-negative
(``nonnegative``); the analysis uses that for the compactness ceiling (docs/analysis.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robeval.core.registry import Registry


@dataclass(frozen=True)
class Encoder:
    """One ``--arch``: ``build(image_size)`` -> a network whose ``out_dim`` is the feature size."""

    name: str
    build: Callable[[int], nn.Module]
    description: str = ""


ENCODERS: Registry[Encoder] = Registry("encoder")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-form ResNet-18; ``pool='global'`` (d=512) or ``pool='avg4'`` (the authors' flatten)."""

    nonnegative = True

    def __init__(self, image_size: int = 32, pool: str = "global") -> None:
        super().__init__()
        self.pool = pool
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes, layers = 64, []
        for i, width in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width)))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        side = image_size // 8 // 4 if pool == "avg4" else 1
        self.out_dim = 512 * side * side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        if self.pool == "avg4":
            return F.avg_pool2d(out, 4).flatten(1)
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1, groups: int = 1, k: int = 3) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class VGG16BN(nn.Module):
    nonnegative = True
    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

    def __init__(self, image_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += _conv_bn_relu(cin, int(v))
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        self.block = nn.Sequential(
            *_conv_bn_relu(cin, hidden, k=1),
            *_conv_bn_relu(hidden, hidden, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    nonnegative = True
    # (expansion, out channels, repeats, stride); strides 1 in the stem and 2nd stage for 32 px
    CFG = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, image_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = list(_conv_bn_relu(3, 32))
        cin = 32
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, t, s if i == 0 else 1))
                cin = c
        layers += _conv_bn_relu(cin, 1280, k=1)
        self.features = nn.Sequential(*layers)
        self.out_dim = 1280

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class SmallCNN(nn.Module):
    """Four conv-BN-ReLU blocks (16-32-64-128 channels, 2x2 max-pool between), global pool; d = 128.

    Sized for CPU work (about 2,000 training images/s at 32 px on 2 cores); d = 128 leaves room
    for a simplex-ETF head of up to 128 classes.
    """

    nonnegative = True

    def __init__(self, image_size: int = 32, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, w in enumerate(widths):
            layers += _conv_bn_relu(cin, w)
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


class AirBlock(nn.Sequential):
    """airbench's block (Jordan 2024): conv, 2x2 max-pool, BN, GELU, conv, BN, GELU. The second
    conv runs at half the resolution, so six convolutions cost about as much as four."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.MaxPool2d(2),
                         nn.BatchNorm2d(cout), nn.GELU(),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class AirbenchSmall(nn.Module):
    """airbench94's layout (a 2x2 stem of 24 channels, three AirBlocks, global max-pool) at half
    its widths and less (32-64-128 instead of 64-256-256), d = 128: the full-scale CPU study's
    encoder (results/cifar10-airbench-s-cpu-full), about 3x smallcnn's cost per image. GELU can
    be negative, so its features are not non-negative (no compactness ceiling)."""

    nonnegative = False

    def __init__(self, image_size: int = 32, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(3, 24, 2, 1, 0), nn.GELU()]
        cin = 24
        for w in widths:
            blocks.append(AirBlock(cin, w))
            cin = w
        self.features = nn.Sequential(*blocks)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_max_pool2d(self.features(x), 1).flatten(1)


for _encoder in (
    Encoder("resnet18", lambda size: ResNet18(size, pool="global"), "ResNet-18, global average pool"),
    Encoder("resnet18-authors", lambda size: ResNet18(size, pool="avg4"),
            "ResNet-18 as the paper's code pools (4 x 4 average)"),
    Encoder("vgg16bn", VGG16BN, "VGG-16 with batch norm"),
    Encoder("mobilenetv2", MobileNetV2, "MobileNetV2 for 32 px"),
    Encoder("smallcnn", SmallCNN, "4 conv blocks, widths 16-32-64-128"),
    Encoder("airbench-s", AirbenchSmall, "airbench94's blocks at widths 32-64-128, GELU, d = 128"),
    # half the widths of smallcnn (a quarter of its multiply-adds), d = 64: the embedded demo's
    # encoder, about 2,400 training images/s at 32 px on one CPU thread
    Encoder("tinycnn", lambda size: SmallCNN(size, widths=(8, 16, 32, 64)), "smallcnn at half width"),
):
    ENCODERS.add(_encoder)


def build_encoder(name: str, image_size: int = 32) -> nn.Module:
    return ENCODERS.get(name).build(image_size)

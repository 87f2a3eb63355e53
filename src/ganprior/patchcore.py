"""A PatchCore-style anomaly detector (Roth et al. 2022), the non-GAN baseline users would pick.

Locally aware patch features of a frozen ImageNet EfficientNet-Lite0 (blocks 2 and 4: 24 + 40
channels, 3×3 average pooling, the deeper map upsampled to the shallower one) from normal images
form a memory bank (a seeded random subset instead of the greedy coreset); a test patch's score is
its distance to the nearest bank entry, upsampled to the image and smoothed (Gaussian, σ = 1/16 of
the side, as PatchCore's σ = 4 at 64-pixel feature maps).

Images (N, C, H, W) in [-1, 1] are resized to ``input_size`` before the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import kornia
import torch
from torch import Tensor, nn

from .models.efficientnet import efficientnet_lite0_features


class PatchCore:
    """``fit(normal)`` builds the memory bank; ``maps(images)`` -> anomaly maps (N, 1, H, W).

    net: images (N, C, input_size, input_size) -> (shallow, deep) feature maps, the shallow one at 1/4
    of ``input_size``; default EfficientNet-Lite0 blocks 2 and 4."""

    def __init__(
        self,
        input_size: int = 128,
        bank_size: int = 20_000,
        seed: int = 0,
        net: Callable[[Tensor], Sequence[Tensor]] | None = None,
    ) -> None:
        self.net = efficientnet_lite0_features((2, 4)) if net is None else net
        self.input_size, self.bank_size, self.seed = input_size, bank_size, seed
        self.bank: Tensor | None = None

    @torch.no_grad()
    def patches(self, images: Tensor) -> Tensor:
        """Patch features (N, D, h, w) at 1/4 of ``input_size``."""
        x = nn.functional.interpolate(images, size=self.input_size, mode="bilinear", antialias=True)
        shallow, deep = (nn.functional.avg_pool2d(f, 3, 1, 1) for f in self.net(x))
        deep = nn.functional.interpolate(deep, size=shallow.shape[-2:], mode="bilinear")
        return torch.cat([shallow, deep], dim=1)

    def fit(self, normal: Tensor, chunk: int = 64) -> PatchCore:
        feats = torch.cat(
            [self._flat(self.patches(normal[i : i + chunk])) for i in range(0, len(normal), chunk)]
        )
        rng = torch.Generator().manual_seed(self.seed)
        keep = torch.randperm(len(feats), generator=rng)[: self.bank_size]
        self.bank = feats[keep]
        return self

    @torch.no_grad()
    def maps(self, images: Tensor) -> Tensor:
        if self.bank is None:
            raise RuntimeError("call fit(normal_images) first")
        feats = self.patches(images)
        n, _, h, w = feats.shape
        flat = self._flat(feats)
        distances = torch.cat([torch.cdist(part, self.bank).amin(1) for part in flat.split(4096)])
        scores = distances.view(n, 1, h, w)
        side = images.shape[-1]
        scores = nn.functional.interpolate(scores, size=images.shape[-2:], mode="bilinear")
        sigma = side / 16
        kernel = 2 * round(2 * sigma) + 1
        return kornia.filters.gaussian_blur2d(scores, (kernel, kernel), (sigma, sigma))

    @staticmethod
    def _flat(feats: Tensor) -> Tensor:
        return feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])

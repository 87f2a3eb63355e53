"""A small trainable GAN: staged generator + spectral-norm (projection) discriminator.

Generator (``sngan``): ``embed`` concatenates z with a learned class embedding (conditional
models); stage 0 is a linear map to a 4×4 feature map; every further stage doubles the
resolution (a 4×4 stride-2 transposed convolution, normalisation, LeakyReLU 0.2, as in DCGAN);
the last stage is a 3×3 convolution to the image and tanh. Normalisation is batch norm by
default (``norm="bn"``): pixel norm alone (``norm="pixel"``, batch-independent) collapsed to one
mode within a few hundred steps with this small hinge/SN recipe, batch norm did not. The trainer
exports the EMA generator with *standing statistics* (running mean/var recomputed for the EMA
weights), so in eval mode — what inversion and fine-tuning use — every sample is independent of
its batch.

Discriminator (``sngan-d``): spectral norm on every layer (Miyato et al. 2018); per block a 4×4
stride-2 convolution with LeakyReLU 0.2, down to 4×4, then a sum over space to the pooled vector
φ(x). Logit = w·φ(x) + ⟨E y, φ(x)⟩ — the projection discriminator (Miyato & Koyama 2018) for
class-conditional models, which is what makes category transfer meaningful.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import GanpriorError
from .staged import StagedDiscriminator, StagedGenerator


class PixelNorm(nn.Module):
    """Scale every pixel's feature vector to unit RMS (over channels)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


def _norm(kind: str, width: int) -> nn.Module:
    return nn.BatchNorm2d(width) if kind == "bn" else PixelNorm()


class _Stem(nn.Module):
    """Stage 0: (B, in) -> (B, width, 4, 4)."""

    def __init__(self, in_dim: int, width: int, norm: str) -> None:
        super().__init__()
        self.width = width
        self.linear = nn.Linear(in_dim, width * 16)
        self.act = nn.Sequential(_norm(norm, width), nn.LeakyReLU(0.2))

    def forward(self, h: Tensor) -> Tensor:
        return self.act(self.linear(h).view(h.shape[0], self.width, 4, 4))


def _up_block(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), _norm(norm, c_out), nn.LeakyReLU(0.2))


def _widths(resolution: int, width: int, min_width: int) -> list[int]:
    n_up = int(math.log2(resolution)) - 2
    if 2 ** (n_up + 2) != resolution or n_up < 1:
        raise GanpriorError(f"resolution must be a power of two >= 8, got {resolution}")
    return [max(min_width, width // 2**i) for i in range(n_up + 1)]


class SNGANGenerator(StagedGenerator):
    """z (B, latent_dim) [+ class] -> image (B, channels, resolution, resolution) in [-1, 1].

    Stages: [stem to 4×4] + [one up-block per doubling] + [to-image]; widths start at ``width``
    (4×4) and halve per doubling down to ``min_width``.
    """

    arch_name = "sngan"

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 1,
        latent_dim: int = 128,
        num_classes: int = 0,
        class_dim: int = 32,
        width: int = 256,
        min_width: int = 32,
        norm: str = "bn",
    ) -> None:
        super().__init__()
        if norm not in {"bn", "pixel"}:
            raise GanpriorError(f"norm must be 'bn' or 'pixel', got {norm!r}")
        self.config = dict(
            resolution=resolution,
            channels=channels,
            latent_dim=latent_dim,
            num_classes=num_classes,
            class_dim=class_dim,
            width=width,
            min_width=min_width,
            norm=norm,
        )
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.resolution, self.channels = resolution, channels
        widths = _widths(resolution, width, min_width)
        self.class_embedding = nn.Linear(num_classes, class_dim, bias=False) if num_classes else None
        stages: list[nn.Module] = [_Stem(latent_dim + (class_dim if num_classes else 0), widths[0], norm)]
        stages += [_up_block(a, b, norm) for a, b in itertools.pairwise(widths)]
        stages.append(nn.Sequential(nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()))
        self.stages = nn.ModuleList(stages)

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """(B, latent_dim) [+ class (B,) or (B, num_classes)] -> (B, latent_dim [+ class_dim])."""
        onehot = self.class_vector(y, z.shape[0])
        if onehot is None or self.class_embedding is None:
            return z
        return torch.cat([z, self.class_embedding(onehot.to(z.dtype))], dim=1)


class SNGANDiscriminator(StagedDiscriminator):
    """image (B, channels, res, res) [+ class] -> realness logit (B,); ``features`` gives every block.

    Blocks (4×4 stride-2 convolution + LeakyReLU 0.2) halve the resolution down to 4×4 with widths
    doubling from ``width`` up to ``max_width``; the pooled vector is the sum over space.
    """

    arch_name = "sngan-d"

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 1,
        num_classes: int = 0,
        width: int = 32,
        max_width: int = 256,
    ) -> None:
        super().__init__()
        self.config = dict(
            resolution=resolution,
            channels=channels,
            num_classes=num_classes,
            width=width,
            max_width=max_width,
        )
        self.num_classes, self.resolution, self.channels = num_classes, resolution, channels
        n_down = int(math.log2(resolution)) - 2
        if 2 ** (n_down + 2) != resolution or n_down < 1:
            raise GanpriorError(f"resolution must be a power of two >= 8, got {resolution}")
        widths = [min(max_width, width * 2**i) for i in range(n_down)]
        self.feature_dim = widths[-1]
        blocks: list[nn.Module] = []
        c_in = channels
        for w in widths:
            blocks.append(nn.Sequential(spectral_norm(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)))
            c_in = w
        self.blocks = nn.ModuleList(blocks)
        self.linear = spectral_norm(nn.Linear(widths[-1], 1))
        self.projection = (
            spectral_norm(nn.Linear(num_classes, widths[-1], bias=False)) if num_classes else None
        )

    def features(self, x: Tensor, y: Tensor | None = None) -> list[Tensor]:
        """Every block's output in depth order, then the pooled vector (B, feature_dim)."""
        feats = []
        h = x
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        feats.append(h.sum(dim=(2, 3)))
        return feats

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logit (B,); with ``y`` (labels (B,) or soft one-hot) the class projection is added."""
        pooled = self.features(x)[-1]
        out = self.linear(pooled).squeeze(1)
        if y is not None and self.projection is not None:
            onehot = nn.functional.one_hot(y.long(), self.num_classes).float() if y.dim() == 1 else y.float()
            out = out + (self.projection(onehot.to(pooled.dtype)) * pooled).sum(dim=1)
        return out

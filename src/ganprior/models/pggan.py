"""PGGAN (Karras et al. 2018), fully grown (lod = alpha = 0), as a staged generator and discriminator.

Two published PyTorch ports are reproduced exactly; ``variant`` picks one (the arithmetic differs in
where the bias and the pixel norm sit, so each is kept as its reference computes it):

- ``"mganprior"`` (genforce/mganprior, InterFaceGAN): every stage is pixel norm -> [nearest ×2] ->
  conv without bias -> × gain/√fan_in -> + bias -> LeakyReLU 0.2; stage 0 is a 4×4 convolution with
  padding 3 on the 1×1 latent (it normalises z); the last stage is the ToRGB 1×1 conv (gain 1, linear).
  Stages are [layer0, layer1, …, last ToRGB], the Sequential mGANprior composes codes in.
- ``"gan_zoo"`` (facebookresearch/pytorch_GAN_zoo, RGI): the bias is scaled with the weight,
  (W x + b)·√(2/fan_in); stage 0 is pixel norm(z) -> dense layer -> LeakyReLU -> (B, C, 4, 4) -> pixel
  norm; every conv stage is [nearest ×2] -> conv -> LeakyReLU -> pixel norm; ToRGB (gain √2) is linear.

Widths are listed per resolution 4, 8, …, resolution. The output is linear, roughly in [-1, 1].
The discriminator is pytorch_GAN_zoo's (the only port that ships one).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GanpriorError
from .sngan import PixelNorm
from .staged import StagedDiscriminator, StagedGenerator

VARIANTS = ("mganprior", "gan_zoo")
LEAK = 0.2


class EqualizedConv2d(nn.Module):
    """Convolution with the equalised learning rate: the stored weight is scaled by gain/√fan_in at run
    time. ``scale_bias``: (W x + b)·scale (pytorch_GAN_zoo) instead of W x·scale + b (mGANprior)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        padding: int = 0,
        gain: float = math.sqrt(2),
        scale_bias: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel * kernel)
        self.padding, self.scale_bias = padding, scale_bias

    def forward(self, x: Tensor) -> Tensor:
        if self.scale_bias:
            return F.conv2d(x, self.weight, self.bias, padding=self.padding) * self.scale
        return F.conv2d(x, self.weight, padding=self.padding) * self.scale + self.bias.view(1, -1, 1, 1)


class EqualizedLinear(nn.Module):
    """Dense layer with the equalised learning rate, pytorch_GAN_zoo style: (W x + b)·√(2/fan_in)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = math.sqrt(2 / c_in)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias) * self.scale


class Block(nn.Module):
    """One stage: [pixel norm] -> [nearest ×2] -> layer -> [(B, C, 4, 4) view] -> [LeakyReLU] -> [pixel norm]."""

    def __init__(
        self,
        layer: nn.Module,
        upsample: bool = False,
        norm_in: bool = False,
        act: bool = True,
        norm_out: bool = False,
        grid: bool = False,
    ) -> None:
        super().__init__()
        self.layer = layer
        self.norm = PixelNorm()
        self.upsample, self.norm_in, self.act, self.norm_out, self.grid = (
            upsample,
            norm_in,
            act,
            norm_out,
            grid,
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_in:
            x = self.norm(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.layer(x)
        if self.grid:
            x = x.view(x.shape[0], -1, 4, 4)
        if self.act:
            x = F.leaky_relu(x, LEAK)
        return self.norm(x) if self.norm_out else x


def _check_widths(widths: list[int]) -> None:
    if len(widths) < 2 or min(widths) < 1:
        raise GanpriorError(f"widths must list at least two resolutions (4, 8, ...), got {widths}")


class PGGANGenerator(StagedGenerator):
    """z (B, latent_dim) ~ N(0, I) -> image (B, channels, R, R), linear (roughly [-1, 1]).

    ``widths[i]``: channels at resolution 4·2**i, so R = 4·2**(len(widths)-1); 2·len(widths)+1 stages.
    """

    arch_name = "pggan"

    def __init__(
        self, widths: list[int], latent_dim: int = 512, channels: int = 3, variant: str = "mganprior"
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise GanpriorError(f"variant must be one of {VARIANTS}, got {variant!r}")
        _check_widths(widths)
        self.config = dict(widths=list(widths), latent_dim=latent_dim, channels=channels, variant=variant)
        self.latent_dim, self.num_classes, self.channels = latent_dim, 0, channels
        self.resolution = 4 * 2 ** (len(widths) - 1)
        self.variant = variant
        zoo = variant == "gan_zoo"
        first = (
            Block(EqualizedLinear(latent_dim, 16 * widths[0]), norm_in=True, norm_out=True, grid=True)
            if zoo
            else Block(EqualizedConv2d(latent_dim, widths[0], 4, padding=3), norm_in=True)
        )
        stages: list[nn.Module] = [first]
        for i, width in enumerate(widths):
            for j in range(2 if i else 1):
                c_in = widths[i - 1] if j == 0 and i else width
                conv = EqualizedConv2d(c_in, width, 3, padding=1, scale_bias=zoo)
                stages.append(Block(conv, upsample=j == 0 and i > 0, norm_in=not zoo, norm_out=zoo))
        to_rgb = EqualizedConv2d(widths[-1], channels, 1, gain=math.sqrt(2) if zoo else 1.0, scale_bias=zoo)
        stages.append(Block(to_rgb, norm_in=not zoo, act=False))
        self.stages = nn.ModuleList(stages)

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """(B, latent_dim) -> the input of stage 0: (B, latent_dim, 1, 1) (mGANprior) or z itself."""
        return z if self.variant == "gan_zoo" else z.reshape(z.shape[0], self.latent_dim, 1, 1)


def minibatch_stddev(x: Tensor, group: int = 4) -> Tensor:
    """(B, C, H, W) -> (B, C+1, H, W), pytorch_GAN_zoo's way: groups of ``min(B, group)`` consecutive
    samples (the whole batch when that does not divide B), unbiased variance, the mean over C, H, W of
    √(var + 1e-8) as one extra channel; zeros for a batch of one."""
    b, c, h, w = x.shape
    size = min(b, group)
    if b % size:
        size = b
    if size == 1:
        return torch.cat([x, x.new_zeros(b, 1, h, w)], dim=1)
    std = torch.sqrt(x.view(-1, size, c, h, w).var(dim=1) + 1e-8).flatten(1).mean(dim=1)
    return torch.cat([x, std.repeat_interleave(size).view(b, 1, 1, 1).expand(b, 1, h, w)], dim=1)


class PGGANDiscriminator(StagedDiscriminator):
    """image (B, channels, R, R) -> realness (B,); pytorch_GAN_zoo's DNet, fully grown.

    fromRGB (1×1) -> per resolution R … 8: two 3×3 convs, 2×2 average pool -> [minibatch stddev] ->
    3×3 conv at 4×4 -> dense -> decision. Every layer but the decision is followed by LeakyReLU 0.2.
    ``widths`` as for the generator; with ``stddev`` the outputs depend on the whole batch, as the
    reference's do.
    """

    arch_name = "pggan-d"

    def __init__(self, widths: list[int], channels: int = 3, stddev: bool = True, outputs: int = 1) -> None:
        super().__init__()
        _check_widths(widths)
        self.config = dict(widths=list(widths), channels=channels, stddev=stddev, outputs=outputs)
        self.num_classes, self.channels = 0, channels
        self.resolution = self.min_side = 4 * 2 ** (len(widths) - 1)
        self.stddev = self.mixes_batch = stddev  # minibatch stddev: outputs depend on the whole batch
        self.from_rgb = EqualizedConv2d(channels, widths[-1], 1, scale_bias=True)
        convs = []
        for i in reversed(range(1, len(widths))):
            convs += [
                EqualizedConv2d(widths[i], widths[i], 3, padding=1, scale_bias=True),
                EqualizedConv2d(widths[i], widths[i - 1], 3, padding=1, scale_bias=True),
            ]
        self.convs = nn.ModuleList(convs)
        self.conv4 = EqualizedConv2d(widths[0] + int(stddev), widths[0], 3, padding=1, scale_bias=True)
        self.dense = EqualizedLinear(16 * widths[0], widths[0])
        self.decision = EqualizedLinear(widths[0], outputs)

    def features(self, x: Tensor, y: Tensor | None = None) -> list[Tensor]:
        """Every layer's activation in depth order (fromRGB, each conv before its pooling, the 4×4
        conv), then the dense layer's (B, widths[0]), the vector the decision reads."""
        h = F.leaky_relu(self.from_rgb(x), LEAK)
        feats = [h]
        for j, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), LEAK)
            feats.append(h)
            if j % 2:
                h = F.avg_pool2d(h, 2)
        if self.stddev:
            h = minibatch_stddev(h)
        h = F.leaky_relu(self.conv4(h), LEAK)
        feats.append(h)
        feats.append(F.leaky_relu(self.dense(h.flatten(1)), LEAK))
        return feats

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Realness (B,): the decision layer's first output."""
        return self.decision(self.features(x)[-1])[:, 0]


def reference_widths(resolution: int) -> list[int]:
    """The published networks' widths at 4, 8, …, ``resolution`` px: min(16384 / side, 512)
    (fmap_base 16384, fmap_max 512 of the official code and its ports)."""
    levels = round(math.log2(max(resolution, 1))) - 1
    if resolution < 8 or 4 * 2 ** (levels - 1) != resolution:
        raise ValueError(f"PGGAN resolution must be a power of two >= 8, got {resolution}")
    return [min(16384 // (4 * 2**i), 512) for i in range(levels)]


def reference_generator(resolution: int = 256, variant: str = "mganprior") -> PGGANGenerator:
    """A randomly initialised G of the published architecture (512-d z, RGB) at ``resolution`` px."""
    return PGGANGenerator(reference_widths(resolution), 512, 3, variant)


def reference_discriminator(resolution: int = 256) -> PGGANDiscriminator:
    """A randomly initialised D of the published architecture (minibatch stddev) at ``resolution`` px."""
    return PGGANDiscriminator(reference_widths(resolution))

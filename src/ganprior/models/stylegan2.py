"""StyleGAN2 (Karras et al. 2020) as rosinality/stylegan2-pytorch defines it, staged, in plain torch.

Generator (``stylegan2``): mapping z (B, w_dim) -> PixelNorm -> ``n_mlp`` equalised linear layers
(lr_mul 0.01, fused leaky ReLU) -> w; synthesis from a learned constant 4×4 input through modulated
3×3 convolutions with demodulation, per-layer noise and an RGB skip image that every ToRGB adds to
(upsampled with the [1, 3, 3, 1] blur). The image is the linear skip sum (no tanh), roughly [-1, 1].

Stages in depth order: stage 0 = 4×4 conv + ToRGB; stage k = ×2 conv, conv, ToRGB at 4·2^k px. The
carried ``h`` is (features, skip image); the last stage returns the image. Each stage's context is
its slice of the W+ styles (B, 2 | 3, w_dim), or (styles, noise, ...) with explicit noise. W+ order
(n_latent = 2·log2(R) − 2): conv1 ← w[0], to_rgb1 ← w[1]; stage k: w[2k−1], w[2k], w[2k+1].

``latent_space`` says what the solvers' latent (B, latent_dim) is: ``z`` (mapped, as sampling
does), ``w`` (one style for every layer) or ``w+`` (n_latent styles, flattened). The default is
``w+``: the StyleGAN inversion references (Image2StyleGAN, mGANprior's and In-Domain Inversion's
StyleGAN code, PTI/e4e/ReStyle) optimise in W+, where reconstructions are far better than in Z.
In W / W+ the solvers' latent prior is centred on w_avg (``latent_start``, ``latent_nll``).
Truncation ψ (``truncation``) maps every style to w_avg + ψ (w − w_avg). Noise is ``fixed`` (the
stored buffers, as inversion needs) or ``random`` (fresh each call, for sampling; not under vmap).

Discriminator (``stylegan2-d``): 1×1 from-RGB, residual blocks with blur-downsampling, minibatch
standard deviation (one channel), a 3×3 conv and two linear layers. Parameter names equal
rosinality's, so its ``d`` state dict loads as it is.

``conv_clamp`` (G and D; None in rosinality's files, 256 in most NVlabs StyleGAN2-ADA pickles) clamps
what NVlabs clamps to ±conv_clamp: every activated conv output and every ToRGB output (G), the
from-RGB, block and final conv outputs (D; not the 1×1 skips).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GanpriorError
from ..losses import latent_prior
from .sngan import PixelNorm
from .staged import StagedDiscriminator, StagedGenerator
from .stylegan2_ops import Blur, Clamp, EqualConv2d, EqualLinear, FusedLeakyReLU, Upsample

BLUR = (1, 3, 3, 1)
LATENT_SPACES = ("z", "w", "w+")
NOISE_MODES = ("fixed", "random")


class ModulatedConv2d(nn.Module):
    """Modulated convolution: (B, in, H, W) + w (B, w_dim) -> (B, out, H, W), or (B, out, 2H, 2W) with
    ``upsample`` (stride-2 transposed convolution, then the blur with gain 4).

    The style s = modulation(w) scales the input channels and demodulation rescales each output
    channel by 1 / ‖W · s‖ — the same numbers as rosinality's per-sample weights (``fused``), computed
    as one convolution shared by the batch.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        w_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_ch * kernel**2)
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2
        if upsample:
            p = len(BLUR) - 2 - (kernel - 1)
            self.blur = Blur(BLUR, ((p + 1) // 2 + 1, p // 2 + 1), gain=4)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        style = self.modulation(w)
        weight = self.weight[0] * self.scale
        x = x * style[:, :, None, None]
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            x = x * torch.rsqrt(style.square() @ weight.square().sum((2, 3)).T + 1e-8)[:, :, None, None]
        return self.blur(x) if self.upsample else x


class NoiseInjection(nn.Module):
    """x + weight · noise: the stored buffer ``fixed`` (1, 1, H, W), fresh N(0, 1) noise, or one given."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.register_buffer("fixed", torch.randn(1, 1, size, size))
        self.random = False

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            noise = torch.randn_like(x[:, :1]) if self.random else self.fixed
        return x + self.weight * noise


class StyledConv(nn.Module):
    """Modulated conv, noise, bias + leaky ReLU: (B, in, H, W) + w (B, w_dim) -> (B, out, H', W')."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        w_dim: int,
        size: int,
        upsample: bool = False,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, upsample=upsample)
        self.noise = NoiseInjection(size)
        self.activate = FusedLeakyReLU(out_ch)
        self.clamp = nn.Identity() if clamp is None else Clamp(clamp)

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.clamp(self.activate(self.noise(self.conv(x, w), noise)))


class ToRGB(nn.Module):
    """Features (B, in, H, W) + w -> RGB (B, C, H, W), plus the previous skip image upsampled ×2."""

    def __init__(
        self, in_ch: int, channels: int, w_dim: int, upsample: bool, clamp: float | None = None
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(BLUR)
        self.conv = ModulatedConv2d(in_ch, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.clamp = nn.Identity() if clamp is None else Clamp(clamp)

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None = None) -> Tensor:
        out = self.clamp(self.conv(x, w) + self.bias)
        return out if skip is None else out + self.upsample(skip)


def _unpack(context: Tensor | tuple[Tensor, ...], convs: int) -> tuple[Tensor, list[Tensor | None]]:
    """A stage's context -> its styles (B, k, w_dim) and one noise (or None) per conv."""
    if isinstance(context, Tensor):
        return context, [None] * convs
    return context[0], list(context[1:])


class FirstStage(nn.Module):
    """Stage 0: constant (B, C, 4, 4) -> (features, skip image (B, channels, 4, 4)); styles w[0], w[1]."""

    def __init__(self, width: int, channels: int, w_dim: int, last: bool, clamp: float | None = None) -> None:
        super().__init__()
        self.conv = StyledConv(width, width, w_dim, 4, clamp=clamp)
        self.to_rgb = ToRGB(width, channels, w_dim, upsample=False, clamp=clamp)
        self.last = last

    def forward(self, h: Tensor, context: Tensor | tuple[Tensor, ...]) -> Any:
        styles, (noise,) = _unpack(context, 1)
        x = self.conv(h, styles[:, 0], noise)
        skip = self.to_rgb(x, styles[:, 1])
        return skip if self.last else (x, skip)


class UpStage(nn.Module):
    """Stage k: (features, skip) at R/2 -> both at R (the image when ``last``); styles w[2k−1 … 2k+1]."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        channels: int,
        w_dim: int,
        size: int,
        last: bool,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv_up = StyledConv(in_ch, out_ch, w_dim, size, upsample=True, clamp=clamp)
        self.conv = StyledConv(out_ch, out_ch, w_dim, size, clamp=clamp)
        self.to_rgb = ToRGB(out_ch, channels, w_dim, upsample=True, clamp=clamp)
        self.last = last

    def forward(self, h: tuple[Tensor, Tensor], context: Tensor | tuple[Tensor, ...]) -> Any:
        styles, (noise_up, noise) = _unpack(context, 2)
        x, skip = h
        x = self.conv(self.conv_up(x, styles[:, 0], noise_up), styles[:, 1], noise)
        skip = self.to_rgb(x, styles[:, 2], skip)
        return skip if self.last else (x, skip)


class ConstantInput(nn.Module):
    """The learned 4×4 input ``input`` (1, C, 4, 4), expanded to a batch."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, width, 4, 4))

    def forward(self, batch: int) -> Tensor:
        return self.input.expand(batch, -1, -1, -1)


def _levels(resolution: int) -> int:
    levels = int(math.log2(resolution)) - 1
    if resolution < 4 or 2 ** (levels + 1) != resolution:
        raise GanpriorError(f"StyleGAN2 resolution must be a power of two >= 4, got {resolution}")
    return levels


class StyleGAN2Generator(StagedGenerator):
    """rosinality's StyleGAN2 generator. ``widths``: feature channels at 4, 8, …, ``resolution`` px.

    latent (B, latent_dim) -> image (B, channels, resolution, resolution), linear output ≈ [-1, 1].
    ``latent_dim`` is w_dim for ``z`` / ``w`` and n_latent · w_dim for ``w+``.
    """

    arch_name = "stylegan2"
    runtime_options = ("latent_space", "truncation", "noise")

    def __init__(
        self,
        resolution: int,
        w_dim: int,
        n_mlp: int,
        widths: Sequence[int],
        channels: int = 3,
        lr_mlp: float = 0.01,
        latent_space: str = "w+",
        truncation: float = 1.0,
        noise: str = "fixed",
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        levels = _levels(resolution)
        if len(widths) != levels:
            raise GanpriorError(f"need {levels} widths (4 … {resolution} px), got {len(widths)}")
        self.resolution, self.channels, self.num_classes, self.w_dim = resolution, channels, 0, w_dim
        self.n_latent = 2 * levels
        self.style = nn.Sequential(
            PixelNorm(), *(EqualLinear(w_dim, w_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp))
        )
        self.input = ConstantInput(widths[0])
        stages: list[nn.Module] = [FirstStage(widths[0], channels, w_dim, levels == 1, conv_clamp)]
        stages += [
            UpStage(widths[k - 1], widths[k], channels, w_dim, 4 * 2**k, k == levels - 1, conv_clamp)
            for k in range(1, levels)
        ]
        self.stages = nn.ModuleList(stages)
        self.register_buffer("latent_avg", torch.zeros(w_dim))
        self.config = {
            "resolution": resolution,
            "w_dim": w_dim,
            "n_mlp": n_mlp,
            "widths": list(widths),
            "channels": channels,
            "lr_mlp": lr_mlp,
            "conv_clamp": conv_clamp,
        }
        self.configure(latent_space=latent_space, truncation=truncation, noise=noise)

    def configure(
        self, latent_space: str | None = None, truncation: float | None = None, noise: str | None = None
    ) -> StyleGAN2Generator:
        """Set the run-time options (they change no weight): what the latent is, ψ and the noise."""
        if latent_space is not None:
            if latent_space not in LATENT_SPACES:
                raise GanpriorError(
                    f"latent_space must be one of {', '.join(LATENT_SPACES)}, got {latent_space!r}"
                )
            self.latent_space = latent_space
            self.latent_dim = self.w_dim * (self.n_latent if latent_space == "w+" else 1)
        if truncation is not None:
            self.truncation = float(truncation)
        if noise is not None:
            if noise not in NOISE_MODES:
                raise GanpriorError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
            for module in self.modules():
                if isinstance(module, NoiseInjection):
                    module.random = noise == "random"
            self.noise = noise
        self.config |= {"latent_space": self.latent_space, "truncation": self.truncation, "noise": self.noise}
        return self

    def mapping(self, z: Tensor) -> Tensor:
        """z (B, w_dim) -> w (B, w_dim)."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> Tensor:
        """The mean of ``n`` mapped z ~ N(0, I), (w_dim,): w_avg for files that do not store it."""
        z = torch.randn(n, self.w_dim, generator=generator).to(self.latent_avg.device)
        return self.mapping(z).mean(0)

    def styles(self, latent: Tensor) -> Tensor:
        """The solvers' latent (B, latent_dim) -> the truncated W+ styles (B, n_latent, w_dim)."""
        if self.latent_space == "w+":
            styles = latent.reshape(latent.shape[0], self.n_latent, self.w_dim)
        else:
            w = self.mapping(latent) if self.latent_space == "z" else latent
            styles = w[:, None].expand(-1, self.n_latent, -1)
        if self.truncation != 1.0:
            styles = self.latent_avg + self.truncation * (styles - self.latent_avg)
        return styles

    def contexts(self, styles: Tensor, noise: Sequence[Tensor] | None = None) -> list[Any]:
        """W+ styles (B, n_latent, w_dim) [+ one noise (B | 1, 1, H, W) per conv, rosinality's order]
        -> each stage's context."""
        spans = [(0, 2)] + [(2 * k - 1, 2 * k + 2) for k in range(1, self.num_stages)]
        if noise is None:
            return [styles[:, a:b] for a, b in spans]
        if len(noise) != 2 * self.num_stages - 1:
            raise GanpriorError(f"need {2 * self.num_stages - 1} noise maps, got {len(noise)}")
        per_stage = [noise[:1]] + [noise[2 * k - 1 : 2 * k + 1] for k in range(1, self.num_stages)]
        return [(styles[:, a:b], *n) for (a, b), n in zip(spans, per_stage, strict=True)]

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The constant input for a batch of B latents: (B, widths[0], 4, 4)."""
        return self.input(z.shape[0])

    def stage_contexts(self, z: Tensor, y: Tensor | None = None) -> list[Any]:
        return self.contexts(self.styles(z))

    def from_styles(self, styles: Tensor, noise: Sequence[Tensor] | None = None) -> Tensor:
        """W+ styles (B, n_latent, w_dim), used as they are (no truncation) -> image (B, C, R, R)."""
        return self.synthesize(self.input(styles.shape[0]), contexts=self.contexts(styles, noise))

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
        """``n`` prior latents (n, latent_dim): z ~ N(0, I), or its mapped w (repeated for ``w+``)."""
        z = torch.randn(n, self.w_dim, generator=generator, device=generator.device if generator else None)
        if self.latent_space != "z":
            with torch.no_grad():
                w = self.mapping(z.to(self.latent_avg.device))
            z = w if self.latent_space == "w" else w[:, None].expand(-1, self.n_latent, -1).reshape(n, -1)
        return z.to(device) if device is not None else z

    def latent_centre(self) -> Tensor:
        """The prior's centre in the solvers' latent layout (latent_dim,): 0 in Z, w_avg in W, w_avg
        for every layer in W+."""
        if self.latent_space == "z":
            return torch.zeros_like(self.latent_avg)
        return self.latent_avg.repeat(self.n_latent if self.latent_space == "w+" else 1)

    def latent_start(self, n: int, std: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Search candidates (n, latent_dim): z · std in Z; in W / W+ the mapped samples truncated
        towards w_avg by ``std``, w_avg + std · (w − w_avg) (on the model's device)."""
        if self.latent_space == "z":
            return super().latent_start(n, std, generator)
        w = self.sample_latent(n, generator)
        if std == 1.0:
            return w
        centre = self.latent_centre().to(w.device)
        return centre + std * (w - centre)

    def latent_nll(self, z: Tensor) -> Tensor:
        """Latents (N, ..., latent_dim) -> (N,): mean(z² / 2) in Z; in W / W+ mean((w − w_avg)² / 2)
        over the layers and dimensions, 0 at w_avg."""
        return latent_prior(z if self.latent_space == "z" else z - self.latent_centre())


class ConvLayer(nn.Sequential):
    """[blur, stride 2 if ``downsample``] equalised conv [+ bias, leaky ReLU]: rosinality's ConvLayer."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int,
        downsample: bool = False,
        activate: bool = True,
        bias: bool = True,
        clamp: float | None = None,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = len(BLUR) - 2 + kernel - 1
            layers.append(Blur(BLUR, ((p + 1) // 2, p // 2)))
        stride, padding = (2, 0) if downsample else (1, kernel // 2)
        layers.append(EqualConv2d(in_ch, out_ch, kernel, stride, padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        if clamp is not None:
            layers.append(Clamp(clamp))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """(B, in, H, W) -> (B, out, H/2, W/2): (conv, conv↓ + 1×1 skip↓) / √2."""

    def __init__(self, in_ch: int, out_ch: int, clamp: float | None = None) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, clamp=clamp)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, clamp=clamp)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def minibatch_stddev(x: Tensor, group: int) -> Tensor:
    """(B, C, H, W) -> (B, C + 1, H, W): the std over groups of ``group`` samples, averaged over C, H, W.

    Groups are strided as rosinality's (sample i with i + B/group, ...); B must be a multiple of group.
    """
    b, c, h, w = x.shape
    if b % group:
        raise GanpriorError(f"the StyleGAN2 discriminator needs a batch divisible by {group}, got {b}")
    std = torch.sqrt(x.reshape(group, -1, c, h, w).var(0, unbiased=False) + 1e-8)
    std = std.mean((1, 2, 3)).reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, std], 1)


class StyleGAN2Discriminator(StagedDiscriminator):
    """rosinality's StyleGAN2 discriminator. ``widths``: channels at ``resolution``, R/2, …, 4 px.

    forward: images (B, channels, R, R) in [-1, 1] -> logit (B,), the minibatch-stddev groups of
    min(B, ``stddev_group``) as the reference. ``features`` gives every block's output, the final
    conv's and the pooled vector (B, widths[-1]); it takes each image alone (stddev group 1) so
    that N images' features stay independent (DGP), and enlarges smaller images to R (nearest).
    """

    arch_name = "stylegan2-d"

    def __init__(
        self,
        resolution: int,
        widths: Sequence[int],
        channels: int = 3,
        stddev_group: int = 4,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        levels = _levels(resolution)
        if len(widths) != levels:
            raise GanpriorError(f"need {levels} widths ({resolution} … 4 px), got {len(widths)}")
        self.resolution, self.channels, self.num_classes = resolution, channels, 0
        self.stddev_group = stddev_group
        blocks = [ConvLayer(channels, widths[0], 1, clamp=conv_clamp)]
        blocks += [ResBlock(a, b, conv_clamp) for a, b in itertools.pairwise(widths)]
        self.convs = nn.Sequential(*blocks)
        self.final_conv = ConvLayer(widths[-1] + 1, widths[-1], 3, clamp=conv_clamp)
        self.final_linear = nn.Sequential(
            EqualLinear(widths[-1] * 16, widths[-1], activate=True), EqualLinear(widths[-1], 1)
        )
        self.config = {
            "resolution": resolution,
            "widths": list(widths),
            "channels": channels,
            "stddev_group": stddev_group,
            "conv_clamp": conv_clamp,
        }

    def _blocks(self, x: Tensor, group: int) -> list[Tensor]:
        out = []
        for block in self.convs:
            x = block(x)
            out.append(x)
        x = self.final_conv(minibatch_stddev(x, group))
        return [*out, x, self.final_linear[0](x.flatten(1))]

    def features(self, x: Tensor, y: Tensor | None = None) -> list[Tensor]:
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="nearest")
        return self._blocks(x, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if x.shape[-2:] != (self.resolution, self.resolution):
            raise GanpriorError(
                f"the discriminator takes {self.resolution}×{self.resolution} images, got {tuple(x.shape)}"
            )
        pooled = self._blocks(x, min(x.shape[0], self.stddev_group))[-1]
        return self.final_linear[1](pooled)[:, 0]


def config_f_widths(resolution: int) -> list[int]:
    """config-f's channels at 4, 8, …, ``resolution`` px (rosinality's table, channel_multiplier 2):
    512 up to 32 px, then 512, 256, 128, 64, 32 at 64 … 1024 px."""
    return [min(512, 2 * 16384 // (4 * 2**k)) for k in range(_levels(resolution))]


def reference_generator(resolution: int = 256, latent_space: str = "w+") -> StyleGAN2Generator:
    """A randomly initialised config-f G (w_dim 512, 8 mapping layers) at ``resolution`` px."""
    return StyleGAN2Generator(resolution, 512, 8, config_f_widths(resolution), latent_space=latent_space)


def reference_discriminator(resolution: int = 256) -> StyleGAN2Discriminator:
    """A randomly initialised config-f D at ``resolution`` px (widths from ``resolution`` down to 4 px)."""
    return StyleGAN2Discriminator(resolution, config_f_widths(resolution)[::-1])

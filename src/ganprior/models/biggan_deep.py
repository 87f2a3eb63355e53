"""BigGAN-deep as huggingface ``pytorch-pretrained-BigGAN`` runs the converted TFHub weights (G only).

A class vector (B, num_classes), one-hot or soft, goes through ``embeddings`` (Linear, no bias);
cond = cat(z, embed) (B, 2·z_dim) is fed WHOLE to ``gen_z`` and to every conditional BN. ``gen_z``'s
output is laid out (B, 4, 4, 16·ch) (TF order) and permuted to NCHW. GenBlock: four BN-ReLU-conv
steps (1×1 down to in/4 channels, 3×3 after an optional nearest ×2, 3×3, 1×1 up to out), plus the
input (its first ``out`` channels when the width drops, upsampled). Self-attention sits in front of
layer ``attention_layer_position``. Output: BN, ReLU, 3×3 conv (ch -> ch), channels [:3], tanh.

BN statistics are stored for ``n_stats`` truncation levels on [0, 1] and interpolated as the
reference does: coef, i = modf(truncation · (n_stats − 1)); stat = s[i]·coef + s[i+1]·(1 − coef)
(the REVERSE of ordinary linear interpolation; s[i] when coef is 0). ``truncation`` is an attribute
(and config entry) a user may set; ``sample_latent`` draws the model's prior, truncation ·
truncnorm(−2, 2). Spectral norm is torch's hook-based one (stored ``u``, ``v``): in eval mode
W / (u · W v); in training mode one power iteration updates u, v first.

Stages: [gen_z], each entry of the reference's ``generator.layers`` (GenBlocks get cond as their
context, attention none), [output]; ``embeddings`` is outside the stages (DGP's group 0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GanpriorError
from .biggan import G_WIDTHS, SelfAttention
from .staged import StagedGenerator


class HookSN:
    """Mixin: torch ``spectral_norm`` semantics for ``self.weight`` with buffers ``u`` (out,), ``v`` (in·k·k,)."""

    weight: Tensor
    u: Tensor
    v: Tensor
    training: bool
    register_buffer: Callable[..., None]

    def _init_sn(self, eps: float) -> None:
        self.sn_eps = eps
        self.register_buffer("u", F.normalize(torch.randn(self.weight.shape[0]), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(torch.randn(self.weight[0].numel()), dim=0, eps=eps))

    def sn_weight(self) -> Tensor:
        """``weight / σ``, σ = u · (W v); in training mode u and v take one power iteration first."""
        mat = self.weight.reshape(self.weight.shape[0], -1)
        if self.training:
            with torch.no_grad():
                self.v.copy_(F.normalize(torch.mv(mat.t(), self.u), dim=0, eps=self.sn_eps))
                self.u.copy_(F.normalize(torch.mv(mat, self.v), dim=0, eps=self.sn_eps))
        return self.weight / torch.dot(self.u, torch.mv(mat, self.v))


class SNConv2d(nn.Conv2d, HookSN):
    """Conv2d ('same' padding) with torch's spectral norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True, eps: float = 1e-4) -> None:
        nn.Conv2d.__init__(self, c_in, c_out, kernel, padding=kernel // 2, bias=bias)
        self._init_sn(eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, HookSN):
    """Linear with torch's spectral norm."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True, eps: float = 1e-4) -> None:
        nn.Linear.__init__(self, d_in, d_out, bias=bias)
        self._init_sn(eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class TruncationBN(nn.Module):
    """BN with statistics per truncation level (``running_means`` / ``running_vars`` (n_stats, C)).

    Conditional (``cond_dim``): (x − μ) / √(σ² + eps) · (1 + scale(c)) + offset(c), scale and
    offset SN-Linear without bias; otherwise F.batch_norm with ``weight`` / ``bias``.
    """

    def __init__(self, channels: int, n_stats: int, eps: float, cond_dim: int | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, channels))
        self.register_buffer("running_vars", torch.ones(n_stats, channels))
        if cond_dim is None:
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
        else:
            self.scale = SNLinear(cond_dim, channels, bias=False, eps=eps)
            self.offset = SNLinear(cond_dim, channels, bias=False, eps=eps)
        self.conditional = cond_dim is not None

    def statistics(self, truncation: float) -> tuple[Tensor, Tensor]:
        """(mean, var) (C,) at ``truncation``, interpolated as the reference does."""
        coef, start = math.modf(truncation / (1.0 / (self.running_means.shape[0] - 1)))
        i = int(start)
        if coef == 0.0:
            return self.running_means[i], self.running_vars[i]
        mean = self.running_means[i] * coef + self.running_means[i + 1] * (1 - coef)
        var = self.running_vars[i] * coef + self.running_vars[i + 1] * (1 - coef)
        return mean, var

    def forward(self, x: Tensor, truncation: float, cond: Tensor | None = None) -> Tensor:
        mean, var = self.statistics(truncation)
        if not self.conditional:
            return F.batch_norm(
                x, mean, var, self.weight, self.bias, training=False, momentum=0.0, eps=self.eps
            )
        weight = 1 + self.scale(cond)[..., None, None]
        bias = self.offset(cond)[..., None, None]
        return (x - mean[None, :, None, None]) / torch.sqrt(
            var[None, :, None, None] + self.eps
        ) * weight + bias


class GenBlock(nn.Module):
    """(B, c_in, H, W) + cond (B, cond_dim) -> (B, c_out, H', W'), H' = 2H when ``up``."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, up: bool, n_stats: int, eps: float) -> None:
        super().__init__()
        mid = c_in // 4
        self.up, self.c_out = up, c_out
        self.bn_0 = TruncationBN(c_in, n_stats, eps, cond_dim)
        self.conv_0 = SNConv2d(c_in, mid, 1, eps=eps)
        self.bn_1 = TruncationBN(mid, n_stats, eps, cond_dim)
        self.conv_1 = SNConv2d(mid, mid, 3, eps=eps)
        self.bn_2 = TruncationBN(mid, n_stats, eps, cond_dim)
        self.conv_2 = SNConv2d(mid, mid, 3, eps=eps)
        self.bn_3 = TruncationBN(mid, n_stats, eps, cond_dim)
        self.conv_3 = SNConv2d(mid, c_out, 1, eps=eps)
        self.truncation = 1.0  # set by the generator before every call

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        t = self.truncation
        h = self.conv_0(F.relu(self.bn_0(x, t, cond)))
        h = F.relu(self.bn_1(h, t, cond))
        h = self.conv_1(F.interpolate(h, scale_factor=2, mode="nearest") if self.up else h)
        h = self.conv_2(F.relu(self.bn_2(h, t, cond)))
        h = self.conv_3(F.relu(self.bn_3(h, t, cond)))
        skip = x[:, : self.c_out] if x.shape[1] != self.c_out else x
        return h + (F.interpolate(skip, scale_factor=2, mode="nearest") if self.up else skip)


class InputStage(nn.Module):
    """Stage 0: cond (B, 2·z_dim) -> gen_z -> (B, 16·ch, 4, 4) (from TF's (B, 4, 4, C) layout)."""

    def __init__(self, cond_dim: int, width: int, eps: float) -> None:
        super().__init__()
        self.width = width
        self.gen_z = SNLinear(cond_dim, 4 * 4 * width, eps=eps)

    def forward(self, cond: Tensor) -> Tensor:
        return self.gen_z(cond).reshape(-1, 4, 4, self.width).permute(0, 3, 1, 2).contiguous()


class OutputStage(nn.Module):
    """BN (truncation statistics), ReLU, 3×3 conv, the first 3 channels, tanh -> [-1, 1]."""

    def __init__(self, width: int, n_stats: int, eps: float) -> None:
        super().__init__()
        self.bn = TruncationBN(width, n_stats, eps)
        self.conv_to_rgb = SNConv2d(width, width, 3, eps=eps)
        self.truncation = 1.0

    def forward(self, h: Tensor) -> Tensor:
        return torch.tanh(self.conv_to_rgb(F.relu(self.bn(h, self.truncation)))[:, :3])


class BigGANDeepGenerator(StagedGenerator):
    """z (B, z_dim) + class (B,) labels or (B, num_classes) vectors -> (B, 3, res, res) in [-1, 1].

    Arguments as huggingface's ``BigGANConfig``: ``layers`` [[up_sample, in, out], …] (width
    multipliers of ``channel_width``), ``attention_layer_position``, ``n_stats``, ``eps``; plus
    ``truncation`` in (0, 1], which selects the BN statistics (settable: ``g.truncation = 0.5``).
    """

    arch_name = "biggan-deep"
    runtime_options = ("truncation",)

    def __init__(
        self,
        z_dim: int = 128,
        num_classes: int = 1000,
        channel_width: int = 128,
        layers: Sequence[Sequence[Any]] = (),
        attention_layer_position: int = 8,
        n_stats: int = 51,
        eps: float = 1e-4,
        truncation: float = 0.4,
    ) -> None:
        super().__init__()
        specs = [[bool(u), int(a), int(b)] for u, a, b in layers]
        if not specs:
            raise GanpriorError("BigGAN-deep needs its layer list [[up_sample, in, out], ...]")
        self.config: dict[str, Any] = dict(
            z_dim=z_dim,
            num_classes=num_classes,
            channel_width=channel_width,
            layers=specs,
            attention_layer_position=attention_layer_position,
            n_stats=n_stats,
            eps=eps,
        )
        self.latent_dim, self.num_classes, self.channels = z_dim, num_classes, 3
        self.resolution = 4 * 2 ** sum(u for u, _, _ in specs)
        ch, cond = channel_width, 2 * z_dim
        self.embeddings = nn.Linear(num_classes, z_dim, bias=False)
        stages: list[nn.Module] = [InputStage(cond, 16 * ch, eps)]
        for i, (up, c_in, c_out) in enumerate(specs):
            if i == attention_layer_position:
                stages.append(SelfAttention(ch * c_in, self._attention_conv, (1,)))
            stages.append(GenBlock(ch * c_in, ch * c_out, cond, up, n_stats, eps))
        stages.append(OutputStage(ch, n_stats, eps))
        self.stages = nn.ModuleList(stages)
        self.truncation = truncation

    def _attention_conv(self, c_in: int, c_out: int) -> nn.Module:
        return SNConv2d(c_in, c_out, 1, bias=False, eps=self.config["eps"])

    @property
    def truncation(self) -> float:
        """The truncation in (0, 1] whose BN statistics every call uses."""
        return self.config["truncation"]

    @truncation.setter
    def truncation(self, value: float) -> None:
        value = float(value)
        if not 0 < value <= 1:
            raise GanpriorError(f"truncation must be in (0, 1], got {value}")
        self.config["truncation"] = value
        for stage in self.stages:
            if isinstance(stage, (GenBlock, OutputStage)):
                stage.truncation = value

    def configure(self, truncation: float | None = None) -> BigGANDeepGenerator:
        """Set the run-time option: the truncation (None: unchanged)."""
        if truncation is not None:
            self.truncation = truncation
        return self

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (B, z_dim) + class -> cond = cat(z, embeddings(class vector)) (B, 2·z_dim)."""
        classes = self.class_vector(y, z.shape[0])
        return torch.cat([z, self.embeddings(classes.to(z.dtype))], 1)  # type: ignore[union-attr]

    def stage_contexts(self, z: Tensor, y: Tensor | None = None) -> list[Tensor | None]:
        """cond for every GenBlock, None for gen_z (whose input it is), attention and the output."""
        cond = self.embed(z, y)
        return [cond if isinstance(stage, GenBlock) else None for stage in self.stages]

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
        """``n`` latents from the model's prior: truncation · N(0, I) truncated to [−2, 2], (n, z_dim)."""
        z = torch.empty(n, self.latent_dim, device=device)
        nn.init.trunc_normal_(z, 0.0, 1.0, -2.0, 2.0, generator=generator)
        return z * self.truncation


def reference_generator(
    resolution: int = 128, ch: int = 128, z_dim: int = 128, num_classes: int = 1000
) -> BigGANDeepGenerator:
    """A randomly initialised G of the released architecture (huggingface's BigGAN128/256/512
    configs): per resolution a width-keeping layer, then an upsampling one; attention at layer 8."""
    widths = G_WIDTHS[resolution]
    layers = [layer for a, b in itertools.pairwise(widths) for layer in ([False, a, a], [True, a, b])]
    return BigGANDeepGenerator(z_dim, num_classes, ch, layers, attention_layer_position=8)

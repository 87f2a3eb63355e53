"""StyleGAN2's building blocks in plain torch (no compiled extensions): the same code on CPU and CUDA.

Parameter and buffer names follow rosinality/stylegan2-pytorch (``weight``, ``bias``, ``kernel``),
so its state dicts load without renaming inside a layer. Equalised learning rate: a layer stores
its weight divided by ``lr_mul`` and scales it at run time by ``lr_mul / sqrt(fan_in)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

LEAKY_SLOPE = 0.2
ACT_GAIN = math.sqrt(2)


def fused_leaky_relu(x: Tensor, bias: Tensor) -> Tensor:
    """leaky_relu(x + bias, 0.2) · √2, bias (C,) added along dim 1 of x (B, C, ...)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return F.leaky_relu(x + bias.view(shape), LEAKY_SLOPE) * ACT_GAIN


def blur_kernel(taps: Sequence[float], gain: float = 1.0) -> Tensor:
    """The separable 2-D FIR kernel of 1-D ``taps`` (e.g. [1, 3, 3, 1]), summing to ``gain``: (k, k)."""
    k = torch.tensor(taps, dtype=torch.float32)
    k2 = k[:, None] * k[None, :]
    return k2 / k2.sum() * gain


def _zero_stuff(x: Tensor, up: int) -> Tensor:
    """(B, C, H, W) -> (B, C, H·up, W·up) with x at [::up, ::up] and zeros elsewhere (vmap-safe)."""
    if up == 1:
        return x
    b, c, h, w = x.shape
    zeros = [torch.zeros_like(x)] * (up - 1)
    x = torch.stack([x, *zeros], dim=-1).reshape(b, c, h, w * up)
    zeros = [torch.zeros_like(x)] * (up - 1)
    return torch.stack([x, *zeros], dim=-2).reshape(b, c, h * up, w * up)


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample (zero insertion), pad (``pad`` = (before, after) on both axes), FIR filter, downsample.

    x (B, C, H, W), kernel (kh, kw) applied to every channel as a true convolution (flipped) ->
    (B, C, (H·up + before + after − kh + 1) // down, ...), as rosinality's ``upfirdn2d_native``.
    """
    c = x.shape[1]
    x = F.pad(_zero_stuff(x, up), (pad[0], pad[1], pad[0], pad[1]))
    weight = kernel.flip(0, 1)[None, None].expand(c, 1, *kernel.shape).to(x.dtype)
    x = F.conv2d(x, weight, groups=c)
    return x[..., ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    """FIR filtering with a fixed kernel (buffer ``kernel``, sum ``gain``) and padding: (B, C, H, W) ->
    (B, C, H + before + after − k + 1, ...)."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], gain: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel(taps, gain))
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """×2 upsampling by zero insertion and the blur kernel (gain 4): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.register_buffer("kernel", blur_kernel(taps, factor**2))
        p = len(taps) - factor
        self.factor, self.pad = factor, ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: (B, in) -> (B, out); with ``activate`` the bias goes
    through the fused leaky ReLU (gain √2)."""

    def __init__(
        self, in_dim: int, out_dim: int, lr_mul: float = 1.0, activate: bool = False, bias_init: float = 0.0
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(in_dim), lr_mul, activate

    def forward(self, x: Tensor) -> Tensor:
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate: (B, in, H, W) -> (B, out, H', W')."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1 / math.sqrt(in_ch * kernel**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)


class Clamp(nn.Module):
    """NVlabs' ``conv_clamp``: x clamped to [-limit, limit] (no parameters), same shape."""

    def __init__(self, limit: float) -> None:
        super().__init__()
        self.limit = limit

    def forward(self, x: Tensor) -> Tensor:
        return x.clamp(-self.limit, self.limit)


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU 0.2 + gain √2 over channels: (B, C, ...) -> same shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias)

"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) with an explicit random generator.

The same random transformation family is applied to real and generated images before the
discriminator sees them, in both the D and the G step; gradients flow through it to G. This keeps
D from memorising a small training set without leaking augmentations into G's samples.
Policies: ``color`` (brightness, saturation, contrast), ``translation`` (up to 1/8 of the size,
zero padding), ``cutout`` (a square of half the size set to 0). Images are (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def _uniform(shape: tuple[int, ...], gen: torch.Generator | None, like: Tensor) -> Tensor:
    return torch.rand(shape, generator=gen, dtype=like.dtype).to(like.device)


def color(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    b = x.shape[0]
    x = x + (_uniform((b, 1, 1, 1), gen, x) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_uniform((b, 1, 1, 1), gen, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform((b, 1, 1, 1), gen, x) + 0.5) + mean


def _indices(b: int, h: int, w: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """Batch, row and column indices, each (b, h, w)."""
    axes = (torch.arange(n, device=device) for n in (b, h, w))
    gb, gy, gx = torch.meshgrid(*axes, indexing="ij")
    return gb, gy, gx


def translation(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.125) -> Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen).to(x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen).to(x.device)
    gb, gy, gx = _indices(b, h, w, x.device)
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gy, gx].permute(0, 3, 1, 2).contiguous()


def cutout(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen).to(x.device)
    gb, gy, gx = _indices(b, ch, cw, x.device)
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: str, gen: torch.Generator | None = None) -> Tensor:
    """Apply the comma-separated ``policy`` (e.g. ``"color,translation,cutout"``; ``""``/``"none"``: identity)."""
    for name in parse_policy(policy):
        x = _OPS[name](x, gen)
    return x


def parse_policy(policy: str) -> list[str]:
    names = [p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none"]
    unknown = [n for n in names if n not in _OPS]
    if unknown:
        from ..errors import GanpriorError

        raise GanpriorError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return names

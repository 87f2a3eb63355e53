"""Synthetic defects with exact pixel masks, painted onto normal images (the anomaly benchmark set).

Kinds (``DEFECT_KINDS``): ``scratch`` (a thin bright or dark slightly curved line), ``crack`` (a
dark jagged random walk), ``stain`` (an irregular blob, darker or lighter, partly transparent),
``missing`` (a rectangular patch of constant black/white), ``spot`` (a few small disks of a foreign
colour: saturated hues on RGB, extreme gray on gray images). The mask is exactly the painted pixels:
every masked pixel is changed, no unmasked pixel is.

Images are (N, C, H, W) in [-1, 1]; masks (N, 1, H, W) in {0, 1}, 1 = defect. Seeded (a
``torch.Generator``), so the benchmark set is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ..errors import GanpriorError

DEFECT_KINDS = ("scratch", "crack", "stain", "missing", "spot")
MIN_CHANGE = 0.25  # every defect pixel moves by at least this much (in [-1, 1] units)


class _Draw:
    """Seeded uniform draws and a PIL canvas for one mask of side ``size``."""

    def __init__(self, size: int, rng: torch.Generator) -> None:
        self.size, self.rng = size, rng
        self.canvas = Image.new("L", (size, size), 0)
        self.draw = ImageDraw.Draw(self.canvas)

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand((), generator=self.rng).item()

    def point(self, margin: float = 0.15) -> tuple[float, float]:
        lo, hi = margin * self.size, (1 - margin) * self.size
        return self.uniform(lo, hi), self.uniform(lo, hi)

    def mask(self) -> Tensor:
        return torch.from_numpy((np.asarray(self.canvas) > 127).astype(np.float32))[None]


def _walk(d: _Draw, segments: int, step: float, turn: float, width: int) -> None:
    x, y = d.point()
    angle = d.uniform(0, 2 * math.pi)
    for _ in range(segments):
        angle += d.uniform(-turn, turn)
        nx, ny = x + step * math.cos(angle), y + step * math.sin(angle)
        d.draw.line([(x, y), (nx, ny)], fill=255, width=width)
        x, y = nx, ny


def _scratch(d: _Draw) -> None:
    _walk(d, 3, d.size * d.uniform(0.15, 0.25), 0.25, 1)


def _crack(d: _Draw) -> None:
    _walk(d, 8, d.size * d.uniform(0.06, 0.1), 1.0, 1 + int(d.uniform(0, 2) > 1.4))


def _stain(d: _Draw) -> None:
    cx, cy = d.point(0.25)
    for _ in range(3):
        rx, ry = (d.size * d.uniform(0.05, 0.13) for _ in range(2))
        x, y = cx + d.uniform(-rx, rx), cy + d.uniform(-ry, ry)
        d.draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=255)


def _missing(d: _Draw) -> None:
    w, h = (d.size * d.uniform(0.12, 0.25) for _ in range(2))
    x, y = d.point(0.1)
    d.draw.rectangle([x, y, x + w, y + h], fill=255)


def _spot(d: _Draw) -> None:
    for _ in range(int(d.uniform(1, 4))):
        r = d.size * d.uniform(0.03, 0.07)
        x, y = d.point()
        d.draw.ellipse([x - r, y - r, x + r, y + r], fill=255)


_SHAPES: dict[str, Callable[[_Draw], None]] = {
    "scratch": _scratch,
    "crack": _crack,
    "stain": _stain,
    "missing": _missing,
    "spot": _spot,
}


def _colour(kind: str, image: Tensor, mask: Tensor, rng: torch.Generator) -> Tensor:
    """The defective pixel values (C, H, W) for ``kind`` (used where ``mask`` is 1)."""
    c = image.shape[0]
    bright = torch.rand((), generator=rng).item() > 0.5
    if kind == "crack":
        return torch.full_like(image, -0.9)
    if kind == "scratch" or kind == "missing":
        return torch.full_like(image, 0.95 if bright else -0.95)
    if kind == "stain":
        opacity = 0.5 + 0.3 * torch.rand((), generator=rng).item()
        target = torch.full_like(image, 0.9 if bright else -0.9)
        return image + opacity * (target - image)
    hue = torch.rand(c, 1, 1, generator=rng) if c == 3 else torch.full((1, 1, 1), float(bright))
    return (hue > 0.5).float().expand_as(image) * 1.9 - 0.95


def paint_defects(
    images: Tensor, kinds: Sequence[str] = DEFECT_KINDS, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Paint one defect on each image, the kinds taken in turn: returns (defective (N, C, H, W),
    masks (N, 1, H, W)). Pixels the defect would change by less than ``MIN_CHANGE`` stay as they
    are and out of the mask, so the mask is exactly what changed visibly."""
    rng = generator or torch.Generator().manual_seed(0)
    out, masks = images.clone(), torch.zeros(images.shape[0], 1, *images.shape[-2:])
    for i, image in enumerate(images):
        kind = kinds[i % len(kinds)]
        if kind not in _SHAPES:
            raise GanpriorError(f"unknown defect kind {kind!r}; choose from {', '.join(DEFECT_KINDS)}")
        d = _Draw(image.shape[-1], rng)
        _SHAPES[kind](d)
        shape = d.mask().to(image.device)
        values = _colour(kind, image, shape, rng).to(image)
        changed = shape * ((values - image).abs().amax(0, keepdim=True) >= MIN_CHANGE).float()
        out[i] = changed * values + (1 - changed) * image
        masks[i] = changed
    return out, masks

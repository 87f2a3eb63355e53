"""Inpainting masks: (1, H, W) float tensors in {0, 1}, 1 = known pixel, 0 = hole.

Generated masks are seeded (a ``torch.Generator``) so benchmarks are reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ..errors import GanpriorError

MASK_KINDS = ("center", "boxes", "strokes", "pixels")


def center_box(resolution: int, side: float = 1 / 3) -> Tensor:
    """A centred square hole whose side is ``side`` × the image side (DGP's inpainting hole)."""
    mask = torch.ones(1, resolution, resolution)
    hole = round(resolution * side)
    start = (resolution - hole) // 2
    mask[:, start : start + hole, start : start + hole] = 0
    return mask


def random_boxes(
    resolution: int, count: int = 3, max_side: float = 0.35, generator: torch.Generator | None = None
) -> Tensor:
    """``count`` axis-aligned holes, each side uniform in [0.1, ``max_side``] × the image side."""
    mask = torch.ones(1, resolution, resolution)
    for _ in range(count):
        h, w = (
            max(1, round(resolution * (0.1 + (max_side - 0.1) * torch.rand((), generator=generator).item())))
            for _ in range(2)
        )
        top = int(torch.randint(resolution - h + 1, (), generator=generator))
        left = int(torch.randint(resolution - w + 1, (), generator=generator))
        mask[:, top : top + h, left : left + w] = 0
    return mask


def free_form(
    resolution: int, strokes: int = 4, width: float = 0.08, generator: torch.Generator | None = None
) -> Tensor:
    """Free-form brush strokes (random walks of thick lines), as in irregular-mask inpainting."""
    canvas = Image.new("L", (resolution, resolution), 255)
    draw = ImageDraw.Draw(canvas)
    brush = max(1, round(width * resolution))

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand((), generator=generator).item()

    for _ in range(strokes):
        x, y = uniform(0, resolution), uniform(0, resolution)
        angle = uniform(0, 2 * math.pi)
        for _ in range(int(uniform(3, 7))):
            angle += uniform(-1.2, 1.2)
            length = uniform(0.1, 0.3) * resolution
            nx = min(max(x + length * math.cos(angle), 0), resolution - 1)
            ny = min(max(y + length * math.sin(angle), 0), resolution - 1)
            draw.line([(x, y), (nx, ny)], fill=0, width=brush, joint="curve")
            x, y = nx, ny
    return torch.from_numpy((np.asarray(canvas) > 127).astype(np.float32))[None]


def random_pixels(resolution: int, fraction: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Each pixel missing independently with probability ``fraction``."""
    return (torch.rand(1, resolution, resolution, generator=generator) >= fraction).float()


def make_mask(
    kind: str, resolution: int, generator: torch.Generator | None = None, **options: float
) -> Tensor:
    """A generated mask by name: center, boxes, strokes or pixels (see the functions above)."""
    makers = {
        "center": lambda: center_box(resolution, **options),
        "boxes": lambda: random_boxes(resolution, generator=generator, **options),  # type: ignore[arg-type]
        "strokes": lambda: free_form(resolution, generator=generator, **options),  # type: ignore[arg-type]
        "pixels": lambda: random_pixels(resolution, generator=generator, **options),
    }
    if kind not in makers:
        raise GanpriorError(
            f"unknown mask kind {kind!r}; choose one of {', '.join(MASK_KINDS)}, or give a PNG"
        )
    return makers[kind]()

"""Gross corruption at unknown places: the degradation of mask-free inpainting (RGI's protocol).

The pixels of a hole are replaced by −1 + N(0, 1) noise (per channel), and the solver is *not*
told where: the forward map and ``project`` are the identity and the observation is the whole
corrupted image. The corrupted region, when known, serves only to simulate observations and to
score the hole (``hole``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import GanpriorError
from .mask import Mask, mask_batch
from .masks import make_mask
from .noise import standard_normal
from .operator import Operator


class Corruption(Operator):
    """``mask`` (N or 1, 1, H, W) or (1, H, W) in {0, 1}, 1 = intact; ``None`` when the corrupted
    pixels are unknown (then nothing is simulated and no pixel counts as a hole)."""

    mask: Tensor | None

    def __init__(self, mask: Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("mask", None if mask is None else mask_batch(mask))

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Replace the hole of clean ``x`` (N, C, H, W) by −1 + N(0, 1) noise; ``x`` itself when the
        hole is unknown."""
        if self.mask is None:
            return x
        return self.mask * x + (1 - self.mask) * (standard_normal(x, generator) - 1)

    def select(self, index: Tensor | Sequence[int]) -> Corruption:
        if self.mask is None or self.mask.shape[0] == 1:
            return self
        return Corruption(self.mask[torch.as_tensor(index)])

    def hole(self) -> Tensor | None:
        return None if self.mask is None else 1 - self.mask

    def given_detection(self, detected: Tensor) -> Mask:
        """Keep the observation wherever the solver found no corruption."""
        return Mask(1 - detected)

    def describe(self) -> str:
        place = (
            "pixels at unknown places"
            if self.mask is None
            else f"{100 * (1 - self.mask.mean().item()):.0f}% of pixels"
        )
        return f"corruption({place} replaced by -1 + N(0,1), unknown to the solver)"


STROKE_FILLS = {  # what replaces the stroke pixels in ``stroke_corruption``
    "noise": "−1 + N(0, 1) per channel (RGI's corruption)",
    "uniform": "uniform over the valid range [-1, 1] per channel: values a clean image could have",
    "patch": "the same pixels of the next image of the set: real content in the wrong place",
}


def stroke_corruption(clean: Tensor, seed: int = 0, fill: str = "noise") -> tuple[Tensor, Tensor]:
    """RGI's test corruption of ``clean`` (N, C, H, W) in [-1, 1]: seeded free-form strokes masks
    (N, 1, H, W) (1 = intact; image i's from seed 100 + ``seed`` + i) and the observations with the
    strokes filled as ``fill`` says (``STROKE_FILLS``; "patch" needs N ≥ 2)."""
    if fill not in STROKE_FILLS:
        raise GanpriorError(f"fill must be one of {', '.join(STROKE_FILLS)}, not {fill!r}")
    if fill == "patch" and len(clean) < 2:
        raise GanpriorError("a patch fill copies from another image of the set: give at least two")
    masks = torch.stack(
        [
            make_mask("strokes", clean.shape[-1], torch.Generator().manual_seed(100 + seed + i))
            for i in range(len(clean))
        ]
    ).to(clean.device)
    if fill == "noise":
        return masks, Corruption(masks).simulate(clean, torch.Generator().manual_seed(seed))
    if fill == "uniform":
        rng = torch.Generator().manual_seed(seed)
        values = torch.rand(clean.shape, generator=rng).to(clean) * 2 - 1
    else:
        values = clean.roll(1, dims=0)
    return masks, masks * clean + (1 - masks) * values

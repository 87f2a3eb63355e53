"""Gross corruption at unknown places: the degradation of mask-free inpainting (RGI's protocol).

The pixels of a hole are replaced by −1 + N(0, 1) noise (per channel), and the solver is *not*
told where: its forward map is the identity and the observation is the whole corrupted image. The
mask is kept only to simulate observations and to score the hole (``pipeline.hole_region``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .operator import Mask


class Corruption(Mask):
    """``mask`` (N or 1, 1, H, W) in {0, 1}, 1 = intact; ``None`` when the corruption is unknown
    (then ``resolution`` gives its size and no pixel counts as a hole)."""

    def __init__(self, mask: Tensor | None, resolution: int | None = None) -> None:
        if mask is None:
            if resolution is None:
                raise ValueError("an unknown corruption needs the resolution")
            mask = torch.ones(1, 1, resolution, resolution)
        super().__init__(mask)

    def forward(self, x: Tensor) -> Tensor:
        return x

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Replace the hole of clean ``x`` (N, C, H, W) by −1 + N(0, 1) noise."""
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        return self.mask * x + (1 - self.mask) * (noise - 1)

    def project(self, estimate: Tensor, observation: Tensor) -> Tensor:
        return estimate

    def select(self, index: Tensor | Sequence[int]) -> Corruption:
        return self if self.mask.shape[0] == 1 else Corruption(self.mask[torch.as_tensor(index)])

    def describe(self) -> str:
        return f"corruption({100 * (1 - self.mask.mean().item()):.0f}% of pixels replaced by -1 + N(0,1), unknown to the solver)"

"""Inpainting: the forward operator that keeps the known pixels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import GanpriorError
from .operator import Operator


def mask_batch(mask: Tensor) -> Tensor:
    """``mask`` (N or 1, 1 or C, H, W) or (1, H, W) as a float (N or 1, 1 or C, H, W) batch (a mask
    per channel: RGI's ``mask="channel"`` detection)."""
    if mask.dim() == 3:
        mask = mask[None]
    if mask.dim() != 4:
        raise GanpriorError(f"mask must be (N, 1, H, W), got {tuple(mask.shape)}")
    return mask.float()


class Mask(Operator):
    """Keep the known pixels, zero (mid-gray) the rest.

    ``mask``: (N or 1, 1, H, W) or (1, H, W) in {0, 1}, 1 = known; or (N, C, H, W), one per channel.
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask_batch(mask))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mask

    def project(self, estimate: Tensor, observation: Tensor) -> Tensor:
        return self.mask * observation + (1 - self.mask) * estimate

    def select(self, index: Tensor | Sequence[int]) -> Mask:
        return self if self.mask.shape[0] == 1 else Mask(self.mask[torch.as_tensor(index)])

    def hole(self) -> Tensor:
        return 1 - self.mask

    def as_observation(self, images: Tensor) -> Tensor:
        return self(images)

    def describe(self) -> str:
        return f"mask({100 * (1 - self.mask.mean().item()):.0f}% missing)"

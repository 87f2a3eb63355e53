"""Colorization: the forward operator that keeps only the luma of an RGB image."""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

from ..imageio import LUMA_WEIGHTS
from .operator import Operator


class Grayscale(Operator):
    """RGB -> luma (ITU-R 601), (N, 3, H, W) -> (N, 1, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weights", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x * self.weights).sum(dim=1, keepdim=True)

    def project(self, estimate: Tensor, observation: Tensor) -> Tensor:
        """Keep the estimate's chroma (YCbCr Cb, Cr) and the observation's luma (Y, the same ITU-R 601
        weights as the forward map), so that the projected image is exactly consistent with a
        grayscale observation wherever it stays inside the RGB gamut."""
        if observation.shape[1] != 1 or observation.shape[-2:] != estimate.shape[-2:]:
            return estimate
        ycbcr = kornia.color.rgb_to_ycbcr((estimate + 1) / 2)
        luma = (observation + 1) / 2
        rgb = kornia.color.ycbcr_to_rgb(torch.cat([luma, ycbcr[:, 1:]], dim=1))
        return rgb.clamp(0, 1) * 2 - 1

"""Denoising: additive white Gaussian noise, and the seeded standard normal draw noisy operators share."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import GanpriorError
from .operator import Operator


def standard_normal(like: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """N(0, 1) noise shaped like ``like``, drawn on the CPU (the same numbers on every device)."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device="cpu").to(like.device)


class Noise(Operator):
    """Additive white Gaussian noise of std ``sigma`` in [0, 1] intensity units.

    The forward map is the identity (the noise belongs to the observation); ``simulate`` adds it.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        if sigma < 0:
            raise GanpriorError(f"the noise level must be >= 0, got {sigma}")
        self.sigma = sigma

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x + 2 * self.sigma * standard_normal(x, generator)

    def describe(self) -> str:
        return f"noise(sigma={self.sigma:g})"

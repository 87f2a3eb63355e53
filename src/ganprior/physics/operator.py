"""The forward operator φ: clean image -> observation, the base class of every degradation.

Every solver takes an ``Operator`` and compares φ(G(z)) with the observation, so a new
degradation needs no change in any solver (the DeepInverse design). ``forward`` is the
deterministic, differentiable part used inside losses; ``simulate`` makes an observation from a
clean image (it adds the noise of noisy operators); ``project`` puts what the observation says
for sure back into an estimate (known pixels for a mask, luminance for grayscale); ``hole`` names
the pixels an observation holds nothing about; ``as_observation`` turns a user's image into the
observation the solvers expect.

All images are (N, C, H, W) in [-1, 1]. Per-image parameters (a mask per image) have a leading
batch dimension N or 1 (shared); ``select`` takes the operator of a subset of the images. A new
degradation is one module here plus one line in ``registry.OPERATORS``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class Operator(nn.Module):
    """Identity degradation; the base class of all operators."""

    def forward(self, x: Tensor) -> Tensor:
        return x

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A (possibly noisy) observation of the clean images ``x``."""
        return self(x)

    def project(self, estimate: Tensor, observation: Tensor) -> Tensor:
        """``estimate`` made consistent with ``observation`` where the observation is certain."""
        return estimate

    def select(self, index: Tensor | Sequence[int]) -> Operator:
        """The operator of images ``index`` of the batch."""
        return self

    def hole(self) -> Tensor | None:
        """The pixels (N or 1, 1, H, W) in {0, 1}, 1 = missing, whose values the observation does
        not depend on (a mask's hole, a known corruption), or None when the operator names none."""
        return None

    def given_detection(self, detected: Tensor) -> Operator:
        """The operator to project with once a solver has located corrupted pixels ``detected``
        (N, 1, H, W) in [0, 1] itself (1 = corrupted); only a corruption of unknown place uses them."""
        return self

    def as_observation(self, images: Tensor) -> Tensor:
        """A user's images (already shaped as this operator's observations) as the observation the
        solvers see: unchanged, except that a mask blanks its hole whatever the file holds there."""
        return images

    def describe(self) -> str:
        return type(self).__name__.lower()

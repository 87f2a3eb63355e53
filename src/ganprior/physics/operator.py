"""Forward operators φ: clean image -> observation. Differentiable, batched, composable.

Every solver takes an ``Operator`` and compares φ(G(z)) with the observation, so a new
degradation needs no change in any solver (the DeepInverse design). ``forward`` is the
deterministic, differentiable part used inside losses; ``simulate`` makes an observation from a
clean image (it adds the noise of noisy operators); ``project`` puts what the observation says
for sure back into an estimate (known pixels for a mask, luminance for grayscale).

All images are (N, C, H, W) in [-1, 1]. Per-image parameters (a mask per image) have a leading
batch dimension N or 1 (shared); ``select`` takes the operator of a subset of the images.
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia
import torch
from torch import Tensor, nn

from ..errors import GanpriorError

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601


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

    def describe(self) -> str:
        return type(self).__name__.lower()


class Mask(Operator):
    """Inpainting: keep the known pixels, zero (mid-gray) the rest.

    ``mask``: (N or 1, 1, H, W) in {0, 1}, 1 = known.
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__()
        if mask.dim() == 3:
            mask = mask[None]
        if mask.dim() != 4 or mask.shape[1] != 1:
            raise ValueError(f"mask must be (N, 1, H, W), got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.float())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.mask

    def project(self, estimate: Tensor, observation: Tensor) -> Tensor:
        return self.mask * observation + (1 - self.mask) * estimate

    def select(self, index: Tensor | Sequence[int]) -> Mask:
        return self if self.mask.shape[0] == 1 else Mask(self.mask[torch.as_tensor(index)])

    def describe(self) -> str:
        return f"mask({100 * (1 - self.mask.mean().item()):.0f}% missing)"


class Downsample(Operator):
    """Super-resolution: antialiased bicubic downsampling by an integer ``factor``."""

    def __init__(self, factor: int, resolution: int | None = None) -> None:
        super().__init__()
        if factor < 1:
            raise GanpriorError(f"the downsampling factor must be a positive integer, got {factor}")
        if resolution is not None and resolution % factor:
            divisors = [f for f in range(2, resolution) if resolution % f == 0]
            raise GanpriorError(
                f"factor {factor} does not divide the model's resolution {resolution}; try one of {divisors}"
            )
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        if self.factor == 1:
            return x
        h, w = x.shape[-2] // self.factor, x.shape[-1] // self.factor
        return nn.functional.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)

    def describe(self) -> str:
        return f"downsample(x{self.factor})"


class Grayscale(Operator):
    """Colorization: RGB -> luma (ITU-R 601), (N, 3, H, W) -> (N, 1, H, W)."""

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


class Noise(Operator):
    """Denoising: additive white Gaussian noise of std ``sigma`` in [0, 1] intensity units.

    The forward map is the identity (the noise belongs to the observation); ``simulate`` adds it.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        if sigma < 0:
            raise GanpriorError(f"the noise level must be >= 0, got {sigma}")
        self.sigma = sigma

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        return x + 2 * self.sigma * noise

    def describe(self) -> str:
        return f"noise(sigma={self.sigma:g})"


class Compose(Operator):
    """Operators applied in order (a hybrid degradation); noise is added where it stands in the chain."""

    def __init__(self, operators: Sequence[Operator]) -> None:
        super().__init__()
        self.operators = nn.ModuleList(operators)

    def forward(self, x: Tensor) -> Tensor:
        for op in self.operators:
            x = op(x)
        return x

    def simulate(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for op in self.operators:
            x = op.simulate(x, generator)
        return x

    def select(self, index: Tensor | Sequence[int]) -> Compose:
        return Compose([op.select(index) for op in self.operators])

    def describe(self) -> str:
        return " + ".join(op.describe() for op in self.operators)

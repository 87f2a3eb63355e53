"""Super-resolution: the forward operator that downsamples by an integer factor."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import GanpriorError
from .operator import Operator


class Downsample(Operator):
    """Antialiased bicubic downsampling by an integer ``factor``: (N, C, H, W) -> (N, C, H/f, W/f).
    ``resolution``, when given, is checked to be divisible by the factor."""

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

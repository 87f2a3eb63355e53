"""Every operator by name, each with an example instance for a model geometry: the list the
operator contract tests (tests/physics/test_operators.py) run over.

A new degradation is one module in this package plus one line in ``OPERATORS``. The user-facing
table (task name -> operator) is ``tasks.build_operator``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .compose import Compose
from .corruption import Corruption
from .downsample import Downsample
from .grayscale import Grayscale
from .mask import Mask
from .masks import make_mask
from .noise import Noise
from .operator import Operator


def example_masks(resolution: int, batch: int) -> Tensor:
    """A different seeded box mask per image: (batch, 1, resolution, resolution), 1 = known."""
    return torch.stack(
        [make_mask("boxes", resolution, torch.Generator().manual_seed(i)) for i in range(batch)]
    )


# name -> example(resolution, channels, batch): an instance for (batch, channels, resolution²) images
OPERATORS: dict[str, Callable[[int, int, int], Operator]] = {
    "identity": lambda r, c, n: Operator(),
    "mask": lambda r, c, n: Mask(example_masks(r, n)),
    "downsample": lambda r, c, n: Downsample(2, r),
    "grayscale": lambda r, c, n: Grayscale(),
    "noise": lambda r, c, n: Noise(0.1),
    "corruption": lambda r, c, n: Corruption(example_masks(r, n)),
    "compose": lambda r, c, n: Compose(
        [Mask(example_masks(r, n)), Grayscale(), Downsample(2, r), Noise(0.05)]
    ),
}

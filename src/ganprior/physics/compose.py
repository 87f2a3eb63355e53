"""Hybrid degradations: operators applied in order."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .operator import Operator


class Compose(Operator):
    """Operators applied in order; noise is added where it stands in the chain.

    ``project`` is the identity and ``hole`` None: the observation mixes the parts' effects (a hybrid
    is scored on the whole image)."""

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

"""Per-image copies of a generator's parameters, run together with ``torch.func`` (vmap + functional_call).

Relaxed methods (R-RGI, DGP) fine-tune the generator for each image. Instead of N module copies,
the parameters are stacked into tensors with a leading batch dimension N; one ``vmap`` over
``functional_call`` evaluates image i with parameters i. Buffers (batch-norm running statistics)
are shared: the generator runs in eval mode. Gradients of a sum of per-image losses reach each copy
only from its own image, so N problems stay independent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..models import StagedGenerator


def per_sample(module: nn.Module, in_dims: tuple[int | None, ...]) -> Callable[..., Tensor]:
    """``module`` run with per-sample parameters: (stacked params {name: (N, ...)}, *inputs) -> (N, ...).

    Input j is batched along dim 0 (``in_dims[j]`` 0) or shared/None (``None``); sample i sees
    parameters i and its own inputs only. Buffers are shared (eval-mode batch norm).
    """
    buffers = dict(module.named_buffers())

    def one(params: dict[str, Tensor], *inputs: Tensor | None) -> Tensor:
        args = tuple(None if x is None else x[None] for x in inputs)
        return functional_call(module, (params, buffers), args)[0]

    return vmap(one, in_dims=(0, *in_dims))


class PerImageGenerator(nn.Module):
    """N copies of ``generator``'s parameters, ``params[name]`` (N, ...), all trainable leaves."""

    def __init__(self, generator: StagedGenerator, n: int) -> None:
        super().__init__()
        self.generator = generator.eval()
        self.params = {
            name: p.detach().unsqueeze(0).repeat(n, *([1] * p.dim())).requires_grad_(True)
            for name, p in generator.named_parameters()
        }

    def parameters_list(self) -> list[Tensor]:
        return list(self.params.values())

    def forward(self, z: Tensor, classes: Tensor | None = None) -> Tensor:
        """z (N, latent_dim) [+ class vectors (N, num_classes)] -> images (N, C, H, W), image i by copy i."""
        return per_sample(self.generator, (0, None if classes is None else 0))(self.params, z, classes)

    def state(self) -> dict[str, Tensor]:
        """The fine-tuned parameters {name: (N, ...)}, detached."""
        return {name: p.detach() for name, p in self.params.items()}

    @torch.no_grad()
    def load(self, index: int, target: StagedGenerator) -> StagedGenerator:
        """Copy image ``index``'s parameters into ``target`` (a module of the same architecture)."""
        for name, p in target.named_parameters():
            p.copy_(self.params[name][index])
        return target

"""Per-image copies of a generator's parameters, run together with ``torch.func`` (vmap + functional_call).

Relaxed methods (R-RGI, DGP) fine-tune the generator for each image. Instead of N module copies,
the parameters are stacked into tensors with a leading batch dimension N; one ``vmap`` over
``functional_call`` evaluates image i with parameters i. Buffers (batch-norm running statistics)
are shared: the generator runs in eval mode. Gradients of a sum of per-image losses reach each copy
only from its own image, so N problems stay independent.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..models import StagedGenerator


class PerImageGenerator(nn.Module):
    """N copies of ``generator``'s parameters, ``params[name]`` (N, ...), all trainable leaves."""

    def __init__(self, generator: StagedGenerator, n: int) -> None:
        super().__init__()
        self.generator = generator.eval()
        self.params = {
            name: p.detach().unsqueeze(0).repeat(n, *([1] * p.dim())).requires_grad_(True)
            for name, p in generator.named_parameters()
        }
        self.buffers_ = dict(generator.named_buffers())

    def parameters_list(self) -> list[Tensor]:
        return list(self.params.values())

    def forward(self, z: Tensor, classes: Tensor | None = None) -> Tensor:
        """z (N, latent_dim) [+ class vectors (N, num_classes)] -> images (N, C, H, W), image i by copy i."""

        def one(params: dict[str, Tensor], z1: Tensor, c1: Tensor | None) -> Tensor:
            c = None if c1 is None else c1[None]
            return functional_call(self.generator, (params, self.buffers_), (z1[None], c))[0]

        in_dims = (0, 0, None if classes is None else 0)
        return vmap(one, in_dims=in_dims)(self.params, z, classes)

    def state(self) -> dict[str, Tensor]:
        """The fine-tuned parameters {name: (N, ...)}, detached."""
        return {name: p.detach() for name, p in self.params.items()}

    @torch.no_grad()
    def load(self, index: int, target: StagedGenerator) -> StagedGenerator:
        """Copy image ``index``'s parameters into ``target`` (a module of the same architecture)."""
        for name, p in target.named_parameters():
            p.copy_(self.params[name][index])
        return target

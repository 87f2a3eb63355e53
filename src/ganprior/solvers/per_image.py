"""Per-image copies of a generator's parameters, run together with ``torch.func`` (vmap + functional_call).

Relaxed methods (R-RGI, DGP) fine-tune the generator for each image. Instead of N module copies,
the parameters are stacked into tensors with a leading batch dimension N; one ``vmap`` over
``functional_call`` evaluates image i with parameters i. Buffers (batch-norm running statistics)
are shared: the generator runs in eval mode. Gradients of a sum of per-image losses reach each copy
only from its own image, so N problems stay independent.

On a CPU the batched path avoids two costs (fashion32, 16 images, one thread): vmap's slow grouped
convolutions in two cases (``folded.FoldedConvolutions``), and a transposing copy of each Linear
weight's gradient: vmap's linear backward lays it out (N, in, out), so ``PerImageGenerator`` keeps
matrices as (N, in, out) leaves and hands their (N, out, in) views to the module.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..models import StagedGenerator
from .folded import FoldedConvolutions


def per_sample(module: nn.Module, in_dims: tuple[int | None, ...]) -> Callable[..., Tensor]:
    """``module`` run with per-sample parameters: (stacked params {name: (N, ...)}, *inputs) -> (N, ...).

    Input j is batched along dim 0 (``in_dims[j]`` 0) or shared/None (``None``); sample i sees
    parameters i and its own inputs only. Buffers are shared (eval-mode batch norm).
    """
    buffers = dict(module.named_buffers())

    def one(params: dict[str, Tensor], *inputs: Tensor | None) -> Tensor:
        args = tuple(None if x is None else x[None] for x in inputs)
        with FoldedConvolutions():
            return functional_call(module, (params, buffers), args)[0]

    return vmap(one, in_dims=(0, *in_dims))


def _matrices_transposed(t: Tensor) -> Tensor:
    """Stacked matrices (Linear weights) (N, a, b) -> their (N, b, a) views; others unchanged. Its own inverse."""
    return t.mT if t.dim() == 3 else t


class PerImageGenerator(nn.Module):
    """N copies of ``generator``'s parameters, trainable leaves unless ``trainable`` is False.

    ``state`` (default: the generator's own parameters, copied N times) gives the start values
    {name: (N, ...)}; they are copied. ``params[name]`` (N, ...) has the module's parameter shape;
    matrices are views of (N, in, out) leaves (see the module docstring), which
    ``parameters_list`` returns (for an optimiser) and ``leaves`` holds by name.
    """

    def __init__(
        self,
        generator: StagedGenerator,
        n: int,
        state: dict[str, Tensor] | None = None,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.generator = generator.eval()
        start = state or {name: p.detach().expand(n, *p.shape) for name, p in generator.named_parameters()}
        self.leaves = {
            name: _matrices_transposed(t.detach())
            .clone(memory_format=torch.contiguous_format)
            .requires_grad_(trainable)
            for name, t in start.items()
        }

    @property
    def params(self) -> dict[str, Tensor]:
        """{name: (N, *parameter shape)}, views of the leaves."""
        return {name: _matrices_transposed(leaf) for name, leaf in self.leaves.items()}

    def parameters_list(self) -> list[Tensor]:
        return list(self.leaves.values())

    def forward(self, z: Tensor, classes: Tensor | None = None) -> Tensor:
        """z (N, latent_dim) [+ class vectors (N, num_classes)] -> images (N, C, H, W), image i by copy i."""
        return per_sample(self.generator, (0, None if classes is None else 0))(self.params, z, classes)

    def state(self) -> dict[str, Tensor]:
        """The fine-tuned parameters {name: (N, ...)}, detached."""
        return {name: p.detach() for name, p in self.params.items()}

    @torch.no_grad()
    def load(self, index: int, target: StagedGenerator) -> StagedGenerator:
        """Copy image ``index``'s parameters into ``target`` (a module of the same architecture)."""
        params = self.params
        for name, p in target.named_parameters():
            p.copy_(params[name][index])
        return target

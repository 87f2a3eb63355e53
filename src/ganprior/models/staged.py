"""Staged generators and discriminators: the contract every solver relies on.

A *staged* generator lists its layers in depth order (``stages``) so that a solver can
run the first ℓ stages and the rest separately (mGANprior), give each stage its own
optimiser group (DGP's shallow-to-deep fine-tuning), or fine-tune all of it (R-RGI),
without knowing the architecture.

The stage contract: ``embed(z, y)`` gives the input of stage 0; ``stage_contexts(z, y)`` gives
each stage's own conditioning (a tensor or tuple of tensors with the batch first, or None), e.g.
BigGAN's class embedding + z chunk per block, StyleGAN2's style vector per layer; None when no stage
needs any (DCGAN). Stage i is called ``stage(h)`` or ``stage(h, context_i)``. What flows between
stages, ``h``, is a feature map (B, C, H, W) or a tuple whose first entry is one (e.g. StyleGAN2's
features and running RGB skip image). Solvers pass contexts along untouched.

The latent prior is the generator's too: ``sample_latent`` draws from it, ``latent_start`` draws a
latent search's candidates (pulled towards its centre by an ``std`` factor) and ``latent_nll`` is
the solvers' latent penalty. The defaults are N(0, I); a latent that is not (StyleGAN2's W / W+,
centred on w_avg) overrides them, so no solver needs to know the architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import GanpriorError
from ..losses import latent_prior


class StagedGenerator(nn.Module):
    """Base class: ``forward(z, y) = synthesize(embed(z, y))``.

    Attributes set by subclasses: ``latent_dim``, ``num_classes`` (0 if unconditional),
    ``resolution``, ``channels``, ``stages`` (an ``nn.ModuleList`` in depth order) and
    ``arch_name`` (the key in ``ganprior.models.ARCHITECTURES``), plus ``config`` (the keyword
    arguments that rebuild the module).
    """

    arch_name: str = ""
    latent_dim: int
    num_classes: int
    resolution: int
    channels: int
    stages: nn.ModuleList
    config: dict[str, Any]
    runtime_options: tuple[str, ...] = ()
    """The run-time settings ``configure`` takes (they change no weight; e.g. StyleGAN2's
    ``latent_space``, ``truncation`` and ``noise``); none by default."""

    def configure(self, **options: Any) -> StagedGenerator:
        """Set run-time options named in ``runtime_options`` (None: unchanged); this one has none."""
        asked = [k for k, v in options.items() if v is not None]
        if asked:
            raise GanpriorError(f"{self.arch_name} takes no run-time option {asked[0]}")
        return self

    def class_vector(self, y: Tensor | None, batch: int) -> Tensor | None:
        """Class labels as a float matrix (B, num_classes).

        ``y`` may be integer labels (B,) or already a (soft) one-hot (B, num_classes); soft
        vectors let DGP interpolate the class between two images.
        """
        if self.num_classes == 0:
            return None
        if y is None:
            raise GanpriorError("this generator is class-conditional: pass class labels y")
        if y.dim() == 1:
            return nn.functional.one_hot(y.long(), self.num_classes).float()
        if y.shape != (batch, self.num_classes):
            raise GanpriorError(
                f"y must be (B,) labels or ({batch}, {self.num_classes}) vectors, got {tuple(y.shape)}"
            )
        return y.float()

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latent (B, latent_dim) and optional class -> the input of stage 0."""
        raise NotImplementedError

    def stage_contexts(self, z: Tensor, y: Tensor | None = None) -> Sequence[Any] | None:
        """Each stage's conditioning for latents (B, latent_dim) [+ class]: one entry per stage
        (None for a stage that needs none), or None when no stage needs any (the default)."""
        return None

    def synthesize(
        self, h: Any, start: int = 0, stop: int | None = None, contexts: Sequence[Any] | None = None
    ) -> Any:
        """Run ``stages[start:stop]`` on ``h`` with their ``contexts`` (``stage_contexts``); with the
        defaults, embed output -> image (B, C, H, W) in [-1, 1]."""
        for i in range(self.num_stages)[start:stop]:
            context = None if contexts is None else contexts[i]
            h = self.stages[i](h) if context is None else self.stages[i](h, context)
        return h

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Latent (B, latent_dim) [+ class] -> image (B, channels, resolution, resolution) in [-1, 1]."""
        return self.synthesize(self.embed(z, y), contexts=self.stage_contexts(z, y))

    def sample_latent(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
        """``n`` latents from the prior N(0, I), shape (n, latent_dim)."""
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def latent_start(self, n: int, std: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``n`` candidate starts of a latent search (n, latent_dim), on ``generator``'s device: prior
        samples pulled towards the prior's centre by the factor ``std`` (by default z ~ N(0, std²))."""
        z = self.sample_latent(n, generator)
        return z * std if std != 1.0 else z

    def latent_nll(self, z: Tensor) -> Tensor:
        """The latent prior's negative log-likelihood up to a constant, per image: latents (N, ...,
        latent_dim) -> (N,), by default mean(z² / 2) (N(0, I)) over everything but the batch."""
        return latent_prior(z)

    def sample_classes(
        self, n: int, generator: torch.Generator | None = None, device: Any = None
    ) -> Tensor | None:
        """``n`` uniform class labels (n,), or None for an unconditional generator."""
        if self.num_classes == 0:
            return None
        return torch.randint(self.num_classes, (n,), generator=generator, device=device)

    @property
    def num_stages(self) -> int:
        return len(self.stages)


class StagedDiscriminator(nn.Module):
    """Base class for discriminators that expose their block features.

    ``features(x, y)`` returns the output of every block in depth order, the last entry being the
    pooled vector (B, F); ``forward(x, y)`` returns the realness logit (B,). DGP matches the last
    k features of a reconstruction against those of the observation.
    """

    arch_name: str = ""
    num_classes: int
    resolution: int
    channels: int
    config: dict[str, Any]

    def features(self, x: Tensor, y: Tensor | None = None) -> list[Tensor]:
        raise NotImplementedError

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        raise NotImplementedError


def map_tensors(fn: Callable[[Tensor], Tensor], tree: Any) -> Any:
    """``fn`` applied to every tensor in a (nested) tuple / list / dict / None / tensor."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, (tuple, list)):
        return type(tree)(map_tensors(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: map_tensors(fn, v) for k, v in tree.items()}
    return tree

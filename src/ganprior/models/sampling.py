"""Sampling the prior: a seeded draw of latents and class labels, and the images they make."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .staged import StagedGenerator


class PriorSample(NamedTuple):
    """Latents (N, latent_dim), class labels (N,) int64 or None (unconditional), and the
    generator's images of them (N, C, H, W) in [-1, 1]; all on the generator's device."""

    latents: Tensor
    classes: Tensor | None
    images: Tensor


@torch.no_grad()
def sample_prior(
    generator: StagedGenerator,
    count: int,
    rng: torch.Generator | int,
    classes: Tensor | None = None,
    chunk: int | None = None,
) -> PriorSample:
    """``count`` draws from ``generator``'s prior and their images.

    rng: a CPU ``torch.Generator`` (drawn from, so successive calls continue its stream) or a seed
    for a fresh one. The latents are drawn first (N(0, I)), then — unless ``classes`` (N,) are
    given — uniform class labels of a conditional generator. Images are rendered ``chunk`` at a
    time (default: all at once) in the generator's current mode.
    """
    if isinstance(rng, int):
        rng = torch.Generator().manual_seed(rng)
    device = next(generator.parameters()).device
    latents = generator.sample_latent(count, rng).to(device)
    if classes is None:
        classes = generator.sample_classes(count, rng)
    classes = None if classes is None else classes.to(device)
    step = chunk or max(count, 1)
    images = torch.cat(
        [
            generator(latents[i : i + step], None if classes is None else classes[i : i + step])
            for i in range(0, count, step)
        ]
    )
    return PriorSample(latents, classes, images)

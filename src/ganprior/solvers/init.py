"""Latent initialisation: the best of K random samples under a distance in the degraded space."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..losses import pixel_loss
from ..models import StagedGenerator
from ..physics import Operator

Distance = Callable[[Tensor, Tensor], Tensor]
"""(candidates' observations (K, ...), one observation expanded to (K, ...)) -> (K,) distances."""


@torch.no_grad()
def search_latents(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    count: int,
    rng: torch.Generator,
    distance: Distance | None = None,
    chunk: int = 100,
) -> tuple[Tensor, Tensor | None]:
    """For each of the N observations, the latent (and random class) among ``count`` prior samples
    whose degraded image is closest to it. Returns z (N, latent_dim) and labels (N,) or None.

    The K samples are shared by all N images (one generator pass per sample); with ``count`` 0 the
    first sample is used, so the result is a plain random draw.
    """
    distance = distance or (lambda a, b: pixel_loss(a, b))
    device = observation.device
    n = observation.shape[0]
    best = torch.full((n,), float("inf"), device=device)
    best_z = torch.zeros(n, generator.latent_dim, device=device)
    best_y = torch.zeros(n, dtype=torch.long, device=device)
    remaining = max(count, 1)
    while remaining > 0:
        size = min(chunk, remaining)
        remaining -= size
        z = generator.sample_latent(size, rng).to(device)
        labels = generator.sample_classes(size, rng)
        labels = labels.to(device) if labels is not None else None
        images = generator(z, labels)
        for i in range(n):
            predicted = operator.select([i])(images)
            d = distance(predicted, observation[i : i + 1].expand_as(predicted))
            k = int(torch.argmin(d))
            if d[k] < best[i]:
                best[i], best_z[i] = d[k], z[k]
                if labels is not None:
                    best_y[i] = labels[k]
    return best_z, (best_y if generator.num_classes else None)

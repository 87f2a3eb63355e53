"""Latent initialisation, shared by every solver: the best of K prior samples under a distance in the
degraded space (pixels for inversion, mGANprior and RGI; discriminator or VGG features for DGP)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..features import FeatureMetric, pixel_metric
from ..models import StagedGenerator
from ..physics import Operator


def shared_degradation(operator: Operator, n: int, like: Tensor) -> bool:
    """Whether all N images have the same degradation (one mask for all, or none); ``like`` (B, C, H, W)
    gives the shape of a probe image (drawn from a fixed seed)."""
    probe = torch.rand(like[:1].shape, generator=torch.Generator().manual_seed(0)).to(like) * 2 - 1
    first = operator.select([0])(probe)
    return all(torch.equal(operator.select([i])(probe), first) for i in range(1, n))


@torch.no_grad()
def search_latents(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    count: int,
    rng: torch.Generator,
    metric: FeatureMetric | None = None,
    *,
    layers: int | None = None,
    std: float = 1.0,
    chunk: int = 100,
) -> tuple[Tensor, Tensor | None]:
    """For each of the N observations (N, C', H', W'), the latent — and, for a conditional
    generator, the random class drawn with it — among ``count`` prior samples (``latent_start``:
    z ~ N(0, std²) for an N(0, I) latent, std the pull towards the prior's centre) whose
    degraded image is closest to it under ``metric`` (default: pixel MSE) over its last ``layers``
    feature maps (None: all). Returns z (N, latent_dim) and labels (N,) or None.

    The samples are drawn ``chunk`` at a time and shared by all N images (one generator pass per
    sample); when the images share one degradation, each sample's features are computed once. With
    ``count`` 0 the first sample is used, so the result is a plain random draw.
    """
    metric = metric or pixel_metric()
    n, device = observation.shape[0], observation.device
    targets = metric.features(observation)
    best = torch.full((n,), float("inf"), device=device)
    best_z = torch.zeros(n, generator.latent_dim, device=device)
    best_y = torch.zeros(n, dtype=torch.long, device=device)
    total = max(count, 1)
    shared = None
    for start in range(0, total, chunk):
        size = min(chunk, total - start)
        z = generator.latent_start(size, std, rng).to(device)
        labels = generator.sample_classes(size, rng)
        labels = labels.to(device) if labels is not None else None
        images = generator(z, labels)
        shared = shared_degradation(operator, n, images) if shared is None else shared
        common = metric.features(operator.select([0])(images)) if shared else None
        for i in range(n):
            mine = common if common is not None else metric.features(operator.select([i])(images))
            target = [t[i : i + 1].expand_as(f) for t, f in zip(targets, mine, strict=True)]
            d = metric.distance(mine, target, layers)
            k = int(torch.argmin(d))
            if d[k] < best[i]:
                best[i], best_z[i] = d[k], z[k]
                if labels is not None:
                    best_y[i] = labels[k]
    return best_z, (best_y if generator.num_classes else None)

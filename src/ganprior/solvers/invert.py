"""Plain GAN inversion (the baseline): z* = argmin_z L(y, φ(G(z))), G frozen.

Each of the N images has its own latent; the N per-image losses are summed, so every latent gets
exactly the gradient it would get alone (the generator runs in eval mode) and Adam's per-element
updates keep the problems independent: a batch of one gives the same numbers as the batched path.

``restarts`` K > 1 runs from K starts per image (the best-of-N search seeded by ``seed``,
``seed + 1``, …), all K·N in one batch, and keeps per image the run whose degraded G(z) fits the
observation best (the pixel loss, without the latent prior's term).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from ..features import FeatureMetric
from ..losses import pixel_loss
from ..models import StagedGenerator
from ..physics import Operator
from .base import Callback, Init, Result, SolverConfig
from .init import search_latents
from .loop import run_steps
from .restarts import check_restarts, choose, first_restart, repeat_images, restart_starts

if TYPE_CHECKING:
    from ..checkpoint import Prior


@dataclass
class InvertConfig(SolverConfig):
    """steps, Adam lr, best-of-``init_samples`` start, pixel loss (mse | l1), weights of the latent
    prior and of the feature loss (used when a feature metric is given), ``restarts`` (K starts per
    image, the best fit kept; module doc), seed. One preset for every task."""

    lr: float = 0.05
    init_samples: int = 500
    loss: str = "mse"
    latent_weight: float = 1e-3
    feature_weight: float = 0.0
    restarts: int = 1

    def __post_init__(self) -> None:
        check_restarts(self.restarts)


class LossSettings(Protocol):
    """The loss fields that ``InvertConfig`` and the other solvers' configs share."""

    loss: str
    latent_weight: float
    feature_weight: float


class Objective:
    """The inversion loss per image, (N,): pixel loss (``config.loss``) between φ(G(·)) and the
    observation + ``config.latent_weight`` · ``nll`` (the generator's ``latent_nll``) +
    ``config.feature_weight`` · feature loss (when a feature metric is given; the observation's
    features are computed once)."""

    def __init__(
        self,
        observation: Tensor,
        config: LossSettings,
        nll: Callable[[Tensor], Tensor],
        features: FeatureMetric | None = None,
    ) -> None:
        self.observation, self.config, self.nll, self.features = observation, config, nll, features
        self.target_features = (
            features.features(observation) if features is not None and config.feature_weight else None
        )

    def __call__(self, predicted: Tensor, latent: Tensor) -> Tensor:
        config = self.config
        loss = pixel_loss(predicted, self.observation, config.loss)
        loss = loss + config.latent_weight * self.nll(latent)
        if self.features is not None and self.target_features is not None:
            distance = self.features.distance(self.features.features(predicted), self.target_features)
            loss = loss + config.feature_weight * distance
        return loss


def invert(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    config: InvertConfig | None = None,
    init: Init | None = None,
    callback: Callback | None = None,
    features: FeatureMetric | None = None,
) -> Result:
    """Invert N observations (N, C', H', W') in [-1, 1] through ``operator``; returns a ``Result``.

    ``init``: start latents (N, latent_dim) and class labels (N,) or vectors; by default the best
    of ``config.init_samples`` prior samples. ``features``: a metric whose feature distance adds a
    perceptual term with weight ``config.feature_weight``.
    """
    config = config or InvertConfig()
    if config.restarts > 1:
        return best_of_restarts(generator, observation, operator, config, init, callback, features)
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    z0, labels = init or search_start(generator, observation, operator, config.init_samples, config.seed)
    classes = generator.class_vector(labels, observation.shape[0]) if labels is not None else None
    z = z0.detach().clone().to(observation.device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=config.lr)
    objective = Objective(observation, config, generator.latent_nll, features)
    history = run_steps(
        lambda _: objective(operator(generator(z, classes)), z),
        [optimizer],
        config.steps,
        observation.shape[0],
        callback,
        estimate=lambda: generator(z, classes),
    )
    with torch.no_grad():
        image = generator(z, classes)
    return Result(image, z.detach(), classes, history, time.perf_counter() - started)


def search_start(
    generator: StagedGenerator, observation: Tensor, operator: Operator, samples: int, seed: int
) -> Init:
    """The best of ``samples`` prior draws (seeded by ``seed``) per observation under the pixel MSE."""
    return search_latents(generator, observation, operator, samples, torch.Generator().manual_seed(seed))


def best_of_restarts(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    config: InvertConfig,
    init: Init | None,
    callback: Callback | None,
    features: FeatureMetric | None,
) -> Result:
    """``invert`` from ``config.restarts`` starts per image in one batch, per image the run with the
    lowest pixel loss kept (module doc). ``init``, when given, is restart 0's start."""
    n, k = observation.shape[0], config.restarts
    starts = restart_starts(
        init,
        lambda seed: search_start(generator, observation, operator, config.init_samples, seed),
        config.seed,
        k,
    )
    repeated, observations = operator.select(torch.arange(n).repeat(k)), repeat_images(observation, k)
    runs = invert(
        generator,
        observations,
        repeated,
        dataclasses.replace(config, restarts=1),
        starts,
        first_restart(callback, n),
        features,
    )
    with torch.no_grad():
        fit = pixel_loss(repeated(runs.image), observations, config.loss)
    return choose(runs, fit.reshape(k, n).T)


def solve(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    config: InvertConfig,
    *,
    init: Init | None = None,
    callback: Callback | None = None,
) -> Result:
    """The registered method: ``invert`` on the prior's generator."""
    return invert(prior.generator, observation, operator, config, init, callback)

"""Plain GAN inversion (the baseline): z* = argmin_z L(y, φ(G(z))), G frozen.

Each of the N images has its own latent; the N per-image losses are summed, so every latent gets
exactly the gradient it would get alone (the generator runs in eval mode) and Adam's per-element
updates keep the problems independent: a batch of one gives the same numbers as the batched path.
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from ..checkpoint import Prior


@dataclass
class InvertConfig(SolverConfig):
    """steps, Adam lr, best-of-``init_samples`` start, pixel loss (mse | l1), weights of the latent
    prior and of the feature loss (used when a feature metric is given), seed. One preset for every task."""

    lr: float = 0.05
    init_samples: int = 500
    loss: str = "mse"
    latent_weight: float = 1e-3
    feature_weight: float = 0.0


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
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    rng = torch.Generator().manual_seed(config.seed)
    z0, labels = (
        init
        if init is not None
        else search_latents(generator, observation, operator, config.init_samples, rng)
    )
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

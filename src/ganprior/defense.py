"""Adversarial attacks on a classifier, and defenses that reconstruct the attacked image first
(the DGP paper's Table 5): plain inversion (DefenseGAN-like), DIP, DGP.

Images are (N, C, H, W) in [-1, 1]; attack budgets ``eps`` are L∞ in [0, 1] intensity units (so
an image moves by at most 2·eps in [-1, 1]).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .checkpoint import Prior
from .physics import Operator
from .solvers import InvertConfig, invert
from .solvers.dgp import DGPConfig
from .solvers.dgp import solve as solve_dgp
from .solvers.dip import DIPConfig, dip


def _loss_gradient(classifier: nn.Module, x: Tensor, labels: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(classifier(x), labels, reduction="sum")
    return torch.autograd.grad(loss, x)[0]


def fgsm(classifier: nn.Module, x: Tensor, labels: Tensor, eps: float) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of 2·eps along sign(∇ loss)."""
    return (x + 2 * eps * _loss_gradient(classifier, x, labels).sign()).clamp(-1, 1).detach()


def pgd(
    classifier: nn.Module,
    x: Tensor,
    labels: Tensor,
    eps: float,
    step: float,
    steps: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Projected gradient descent (Madry et al. 2018): a random start in the eps-ball, then ``steps``
    signed steps of ``step`` (both in [0, 1] units), projected back onto the ball."""
    radius, alpha = 2 * eps, 2 * step
    start = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x) * radius
    adv = (x + start).clamp(-1, 1)
    for _ in range(steps):
        adv = adv + alpha * _loss_gradient(classifier, adv, labels).sign()
        adv = (x + (adv - x).clamp(-radius, radius)).clamp(-1, 1).detach()
    return adv


Defense = Callable[[Prior, Tensor, int], Tensor]
"""(prior, attacked images (N, C, H, W), seed) -> reconstructions (N, C, H, W)."""


def invert_defense(steps: int) -> Defense:
    """DefenseGAN-like: the closest image the frozen generator can make (MSE, best-of-500 start)."""

    def run(prior: Prior, x: Tensor, seed: int) -> Tensor:
        return invert(prior.generator, x, Operator(), InvertConfig(steps=steps, seed=seed)).image

    return run


def dip_defense(steps: int) -> Defense:
    """DIP fitted to the attacked image with early stopping."""

    def run(prior: Prior, x: Tensor, seed: int) -> Tensor:
        g = prior.generator
        return dip(x, Operator(), g.channels, g.resolution, DIPConfig(steps=steps, seed=seed)).image

    return run


def dgp_defense(steps: int) -> Defense:
    """DGP with the denoising preset (feature matching + MSE, progressive) fitted to the attacked image."""

    def run(prior: Prior, x: Tensor, seed: int) -> Tensor:
        return solve_dgp(prior, x, Operator(), DGPConfig(steps=steps, schedule="denoise", seed=seed)).image

    return run

"""Per-image losses: each returns a (N,) vector so that a batch of N independent problems can be
summed into one scalar without mixing the images' gradients."""

from __future__ import annotations

from torch import Tensor

from .errors import GanpriorError


def per_image_mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(dim=1)


def pixel_loss(prediction: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    """Mean squared (``mse``) or absolute (``l1``) error per image, (N,)."""
    diff = prediction - target
    if kind == "mse":
        return per_image_mean(diff.square())
    if kind == "l1":
        return per_image_mean(diff.abs())
    raise GanpriorError(f"unknown pixel loss {kind!r}")


def latent_prior(z: Tensor) -> Tensor:
    """Negative log-likelihood of z under N(0, I), up to a constant, per image: mean(z² / 2), (N,).
    Solvers call ``StagedGenerator.latent_nll``, which is this for an N(0, I) latent."""
    return per_image_mean(z.square() / 2)

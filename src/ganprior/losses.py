"""Per-image losses: each returns a (N,) vector so that a batch of N independent problems can be
summed into one scalar without mixing the images' gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

FeatureNet = Callable[[Tensor], Sequence[Tensor]]


def per_image_mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(dim=1)


def pixel_loss(prediction: Tensor, target: Tensor, kind: str = "mse") -> Tensor:
    """Mean squared (``mse``) or absolute (``l1``) error per image, (N,)."""
    diff = prediction - target
    if kind == "mse":
        return per_image_mean(diff.square())
    if kind == "l1":
        return per_image_mean(diff.abs())
    raise ValueError(f"unknown pixel loss {kind!r}")


def feature_loss(
    features: FeatureNet, prediction: Tensor, target: Tensor | Sequence[Tensor], kind: str = "l1"
) -> Tensor:
    """Σ over layers of the per-image mean distance between feature maps, (N,).

    ``target`` may be precomputed features (a list) to avoid recomputing them every step.
    """
    pred_feats = features(prediction)
    target_feats = features(target) if isinstance(target, Tensor) else target
    total = 0
    for p, t in zip(pred_feats, target_feats, strict=True):
        total = total + pixel_loss(p, t.detach(), kind)
    return total  # type: ignore[return-value]


def latent_prior(z: Tensor) -> Tensor:
    """Negative log-likelihood of z under N(0, I), up to a constant, per image: mean(z² / 2), (N,)."""
    return per_image_mean(z.square() / 2)

"""Semantic editing with attribute directions in latent space (InterFaceGAN's recipe, as mGANprior
uses it): sample latents, label their images by an attribute, fit a linear classifier, and move
(multi-code) inverted latents along its unit normal.

Attributes are functions images (B, C, H, W) in [-1, 1] -> scores (B,):
- ``brightness``: mean luma in [0, 1]; ``contrast``: std of luma; ``size``: the fraction of pixels
  that differ from the border's median luma by more than 0.2 (the object's area, for centred objects);
- ``class:K``: a classifier's probability of class K (index or name), e.g. the project's
  Fashion-MNIST classifier for fashion32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .checkpoint import Prior
from .errors import GanpriorError
from .imageio import LUMA_WEIGHTS
from .models import StagedGenerator
from .models.sampling import sample_prior
from .physics import Operator
from .solvers.base import Callback, Result
from .solvers.mgan import MGANConfig, fuse, mgan

Attribute = Callable[[Tensor], Tensor]


def luma(images: Tensor) -> Tensor:
    """(B, C, H, W) in [-1, 1] -> luma (B, H, W) in [0, 1]."""
    unit = (images.clamp(-1, 1) + 1) / 2
    if unit.shape[1] == 1:
        return unit[:, 0]
    return (unit * torch.tensor(LUMA_WEIGHTS, device=unit.device).view(1, 3, 1, 1)).sum(1)


def brightness(images: Tensor) -> Tensor:
    return luma(images).flatten(1).mean(1)


def contrast(images: Tensor) -> Tensor:
    return luma(images).flatten(1).std(1)


def size(images: Tensor) -> Tensor:
    y = luma(images)
    border = torch.cat([y[:, 0], y[:, -1], y[:, :, 0], y[:, :, -1]], dim=1)
    background = border.median(dim=1).values
    return ((y - background[:, None, None]).abs() > 0.2).float().flatten(1).mean(1)


MEASURES: dict[str, Attribute] = {"brightness": brightness, "contrast": contrast, "size": size}


def class_attribute(classifier: nn.Module, index: int) -> Attribute:
    """A classifier's softmax probability of class ``index``, (B,)."""

    def score(images: Tensor) -> Tensor:
        return classifier(images).softmax(dim=1)[:, index]

    return score


def resolve_attribute(name: str, prior: Prior, classifier: nn.Module | None = None) -> Attribute:
    """``brightness`` | ``contrast`` | ``size`` | ``class:K`` (K an index or a class name of the
    model's card; needs ``classifier``)."""
    if name in MEASURES:
        return MEASURES[name]
    if name.startswith("class:"):
        if classifier is None:
            raise GanpriorError(
                f"attribute {name!r} needs a classifier for {prior.name}; pass --classifier FILE"
            )
        key = name.split(":", 1)[1]
        names = list(prior.card.get("classes") or [])
        index = names.index(key) if key in names else int(key) if key.isdigit() else -1
        if not 0 <= index < getattr(classifier, "num_classes", 0):
            raise GanpriorError(
                f"unknown class {key!r}; use an index or one of: {', '.join(names) or 'none'}"
            )
        return class_attribute(classifier, index)
    raise GanpriorError(f"unknown attribute {name!r}; choose {', '.join(MEASURES)} or class:K")


@dataclass
class Direction:
    """A unit normal in the generator's input space — (latent_dim,), or (latent_dim + num_classes,)
    over [z, class vector] for a class-conditional generator, whose classes live in y, not z —;
    accuracy of its linear classifier on held-out inputs; ``bias`` of the boundary n·x + bias = 0."""

    normal: Tensor
    bias: float
    accuracy: float


@torch.no_grad()
def sample_scores(
    generator: StagedGenerator, attribute: Attribute, count: int, seed: int, chunk: int = 250
) -> tuple[Tensor, Tensor]:
    """``count`` prior inputs — latents (count, latent_dim), with the one-hot class appended for a
    conditional generator — and their images' attribute scores (count,)."""
    sample = sample_prior(generator, count, seed, chunk=chunk)
    onehot = generator.class_vector(sample.classes, count)
    inputs = sample.latents if onehot is None else torch.cat([sample.latents, onehot], dim=1)
    return inputs, torch.cat([attribute(images) for images in sample.images.split(chunk)])


def fit_direction(z: Tensor, scores: Tensor, fraction: float = 0.3, steps: int = 300) -> Direction:
    """Linear boundary between the top and bottom ``fraction`` of latents by score (logistic
    regression, a linear SVM's smooth twin), trained on 80% of them and scored on the rest."""
    order = scores.argsort()
    k = max(2, int(len(scores) * fraction))
    index = torch.cat([order[:k], order[-k:]])
    labels = torch.cat([torch.zeros(k), torch.ones(k)]).to(z)
    perm = torch.randperm(2 * k, generator=torch.Generator().manual_seed(0)).to(z.device)
    x, y = z[index[perm]], labels[perm]
    split = int(0.8 * len(x))
    w = torch.zeros(z.shape[1], requires_grad=True, device=z.device)
    b = torch.zeros((), requires_grad=True, device=z.device)
    optimizer = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = x[:split] @ w + b
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y[:split]) + 1e-3 * w.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        accuracy = ((x[split:] @ w + b > 0).float() == y[split:]).float().mean().item()
        norm = w.norm().clamp_min(1e-12)
        return Direction((w / norm).detach(), float(b / norm), accuracy)


def find_direction(
    generator: StagedGenerator, attribute: Attribute, samples: int = 2000, seed: int = 0
) -> Direction:
    """The attribute's direction in ``generator``'s input space from ``samples`` labelled samples."""
    generator.eval().requires_grad_(False)
    z, scores = sample_scores(generator, attribute, samples, seed)
    return fit_direction(z, scores)


@torch.no_grad()
def move(
    generator: StagedGenerator,
    latent: Tensor,
    classes: Tensor | None,
    direction: Direction,
    strengths: Sequence[float],
    alpha: Tensor | None = None,
    layer: int = 0,
) -> Tensor:
    """Render latents moved along the direction by each strength: (N, S, C, H, W).

    ``latent``: (N, latent_dim) single codes, or (N, codes, latent_dim) with ``alpha`` (N, codes, C_ℓ)
    and ``layer`` from mGANprior (every code moves by the same step); ``classes`` (N, num_classes)
    move too when the direction spans them.
    """
    normal = direction.normal.to(latent)
    n_z, n_y = normal[: latent.shape[-1]], normal[latent.shape[-1] :]
    frames = []
    for t in strengths:
        z = latent + t * n_z
        y = classes if classes is None or not len(n_y) else classes + t * n_y
        frames.append(generator(z, y) if alpha is None else fuse(generator, z, alpha, y, layer))
    return torch.stack(frames, dim=1)


def change_rate(scores: Tensor, strengths: Sequence[float]) -> float:
    """Share of (image, non-zero strength) pairs whose score moved from the strength-0 score in the
    strength's direction. ``scores``: (N, S), one column per strength; needs a 0 among the strengths."""
    values = list(strengths)
    if 0 not in values:
        raise GanpriorError("change_rate needs strength 0 as the reference")
    reference = scores[:, values.index(0)][:, None]
    signs = torch.tensor([float(torch.sign(torch.tensor(t))) for t in values], device=scores.device)
    moved = torch.sign(scores - reference) == signs[None]
    return float(moved[:, signs != 0].float().mean())


@dataclass
class SemanticEdit:
    """mGANprior reconstructions of N images, the direction, the edited renderings (N, S, C, H, W),
    their attribute scores (N, S) and the change rate."""

    reconstruction: Result
    direction: Direction
    frames: Tensor
    scores: Tensor
    rate: float


def reconstruct(
    prior: Prior, images: Tensor, steps: int | None = None, seed: int = 0, callback: Callback | None = None
) -> Result:
    """mGANprior reconstructions of N images (N, C, H, W) with the ``edit`` preset; ``callback``:
    the solver's, per step."""
    return mgan(
        prior.generator, images, Operator(), reconstruct_config(prior, steps, seed), callback=callback
    )


def reconstruct_config(prior: Prior, steps: int | None = None, seed: int = 0) -> MGANConfig:
    """The mGANprior settings ``reconstruct`` fits with: its ``edit`` preset (``steps``: None, the preset's)."""
    overrides = {"seed": seed} if steps is None else {"steps": steps, "seed": seed}
    return MGANConfig.for_task("edit", prior, **overrides)


def edit_attribute(
    prior: Prior,
    reconstruction: Result,
    attribute: Attribute,
    strengths: Sequence[float],
    samples: int = 2000,
    seed: int = 0,
) -> SemanticEdit:
    """Move every code of an mGANprior ``reconstruction`` along the attribute's direction by each
    strength (include 0 to measure the change rate)."""
    g = prior.generator
    direction = find_direction(g, attribute, samples, seed)
    r = reconstruction
    frames = move(g, r.latent, r.classes, direction, strengths, r.extras["alpha"], r.extras["layer"])
    with torch.no_grad():
        scores = attribute(frames.flatten(0, 1)).view(len(frames), len(strengths))
    rate = change_rate(scores, strengths) if 0 in strengths else float("nan")
    return SemanticEdit(r, direction, frames, scores, rate)

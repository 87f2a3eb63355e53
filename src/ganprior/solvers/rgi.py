"""RGI / R-RGI: robust GAN inversion with a learned sparse corruption mask (METHODS.md §3).

    min_{z, M}  Σ ‖(1 − M) ⊙ (x̂ − G(z))‖²  +  λ Σ |M|   (− λ_D · D(G(z)), optional realism term)

M is a dense real map per pixel (N, 1, H, W), shared by the channels, without sigmoid or clamp, as
in the reference; sums, not means. For a fixed residual r² (summed over channels) the optimal M at
a pixel is ``max(0, 1 − λ / (2 r²))``: a pixel is flagged exactly when r² > λ / 2, so λ is a
threshold on the squared residual — which is what ``ganprior.anomaly.calibrate`` sets from
normal images.

R-RGI (``warmup`` set): from step ``warmup`` on, each image also fine-tunes its own copy of the
whole generator (``PerImageGenerator``); the mask is frozen (inpainting) or keeps learning
(``learn_mask_after_warmup``, anomaly detection). ``mask_from`` > 0 holds M at its initial value
until that step (our anomaly schedule starts M with the fine-tuning; ``robust.preset``).

Batched: every image has its own z, M (and generator copy); the per-image losses are summed and
Adam's updates are element-wise, so a batch of one gives the same numbers as the batched path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from kornia import morphology
from torch import Tensor

from ..losses import pixel_loss
from ..models import StagedDiscriminator, StagedGenerator
from ..physics import Mask, Operator
from .base import Callback, Result
from .init import search_latents
from .invert import InvertConfig, invert
from .per_image import PerImageGenerator


@dataclass
class RGIConfig:
    """steps; Adam lrs of z, M and (R-RGI) the generator; λ (L1 weight of M per pixel); initial M
    (1 for inpainting, 0 for anomaly detection); data term (mse | l1); ``warmup``: step at which
    the generator starts fine-tuning (None = RGI, G frozen); whether M keeps learning after it;
    ``mask_from``: the first step at which M learns; weight of the discriminator realism term;
    best-of-``init_samples`` start (L1 distance, robust to the corruption); ``threshold`` on |M| of
    the reported binary mask and the side of the square of its morphological ``closing`` (1 = none;
    ``binary_mask``); ``refit_steps`` > 0 (RGI only) re-inverts z from a fresh best-of-N start
    with the detected mask held out, an L1 data term and that many steps (``refit``); seed."""

    steps: int = 1000
    lr_z: float = 0.05
    lr_mask: float = 0.1
    lr_g: float = 1e-5
    lam: float = 0.1
    mask_init: float = 1.0
    loss: str = "mse"
    warmup: int | None = None
    learn_mask_after_warmup: bool = False
    mask_from: int = 0
    realism_weight: float = 0.0
    init_samples: int = 500
    threshold: float = 0.5
    closing: int = 1
    refit_steps: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.refit_steps and self.warmup is not None:
            raise ValueError(
                "refit_steps applies to RGI: R-RGI's fine-tuning already refits with the mask frozen"
            )


def mask_learns(config: RGIConfig, step: int) -> bool:
    """Whether M learns at ``step``: from ``mask_from`` on, and after the warm-up only for anomaly detection."""
    tuning = config.warmup is not None and step >= config.warmup
    return step >= config.mask_from and (config.learn_mask_after_warmup or not tuning)


def binary_mask(anomaly: Tensor, threshold: float, closing: int = 1) -> Tensor:
    """|M| (N, 1, H, W) -> {0, 1} (1 = corrupted): above ``threshold``, then closed with a
    ``closing``² square (kornia; geodesic border) when ``closing`` > 1."""
    binary = (anomaly > threshold).float()
    if closing <= 1:
        return binary
    return morphology.closing(binary, torch.ones(closing, closing, device=binary.device))


def data_term(residual: Tensor, mask: Tensor, kind: str) -> Tensor:
    """Σ over pixels of ‖(1 − M) ⊙ residual‖² (mse) or |·| (l1): residual (N, C, H, W), M (N, 1, H, W) -> (N,)."""
    weighted = (1 - mask) * residual
    per_pixel = weighted.square() if kind == "mse" else weighted.abs()
    return per_pixel.flatten(1).sum(1)


def refit(
    generator: StagedGenerator, observation: Tensor, detected: Tensor, config: RGIConfig
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Plain inversion of the observations (N, C, H, W) with the detected pixels (N, 1, H, W), 1 =
    corrupted, held out: G(z) (N, C, H, W), z and the class vectors. RGI's own latent is pulled by
    the corruption while M settles and by its soft weights; a fresh fit given the settled mask is
    not (benchmarks/results/rgi_gap_*.md). L1 bounds the pull of corrupted pixels the mask missed."""
    known = Mask(1 - detected)
    settings = InvertConfig(
        steps=config.refit_steps, loss="l1", init_samples=config.init_samples, seed=config.seed
    )
    result = invert(generator, known(observation), known, settings)
    return result.image, result.latent, result.classes


def rgi(
    generator: StagedGenerator,
    observation: Tensor,
    config: RGIConfig | None = None,
    discriminator: StagedDiscriminator | None = None,
    init: tuple[Tensor, Tensor | None] | None = None,
    callback: Callback | None = None,
) -> Result:
    """Robust inversion of N corrupted images (N, C, H, W) in [-1, 1] (the operator is the identity).

    Returns a ``Result`` whose ``image`` is G(z) (the fine-tuned G for R-RGI; the refitted z with
    ``refit_steps``), ``mask`` the binary
    detection (|M| > threshold, 1 = corrupted) (N, 1, H, W), ``extras["anomaly"]`` the map |M|
    (N, 1, H, W) and ``extras["residual"]`` |x̂ − G(z)| averaged over channels (N, 1, H, W);
    ``generator_state`` holds the per-image generator parameters for R-RGI.
    """
    config = config or RGIConfig()
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    n, _, h, w = observation.shape
    rng = torch.Generator().manual_seed(config.seed)
    if init is None:
        init = search_latents(
            generator,
            observation,
            Operator(),
            config.init_samples,
            rng,
            distance=lambda a, b: pixel_loss(a, b, "l1"),
        )
    z0, labels = init
    classes = generator.class_vector(labels, n) if labels is not None else None
    z = z0.detach().clone().to(observation.device).requires_grad_(True)
    mask = torch.full((n, 1, h, w), config.mask_init, device=observation.device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [z], "lr": config.lr_z}, {"params": [mask], "lr": config.lr_mask}]
    )
    copies: PerImageGenerator | None = None
    history = torch.zeros(config.steps, n)
    for step in range(config.steps):
        if config.warmup is not None and step == config.warmup:
            copies = PerImageGenerator(generator, n)
            optimizer.add_param_group({"params": copies.parameters_list(), "lr": config.lr_g})
        image = copies(z, classes) if copies is not None else generator(z, classes)
        loss = data_term(observation - image, mask, config.loss) + config.lam * mask.abs().flatten(1).sum(1)
        if config.realism_weight and discriminator is not None:
            loss = loss - config.realism_weight * discriminator(image, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        if not mask_learns(config, step):
            mask.grad = None  # held: Adam skips M and keeps no moments of it
        optimizer.step()
        history[step] = loss.detach().cpu()
        if callback is not None:
            callback(step, history[step])
    with torch.no_grad():
        image = copies(z, classes) if copies is not None else generator(z, classes)
        anomaly = mask.detach().abs()
    detected = binary_mask(anomaly, config.threshold, config.closing)
    latent = z.detach()
    if config.refit_steps:
        image, latent, classes = refit(generator, observation, detected, config)
    residual = (observation - image).abs().mean(1, keepdim=True)
    return Result(
        image,
        latent,
        classes,
        history,
        time.perf_counter() - started,
        mask=detected,
        generator_state=copies.state() if copies is not None else None,
        extras={"anomaly": anomaly, "residual": residual},
    )

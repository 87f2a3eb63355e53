"""mGANprior: multi-code GAN inversion with adaptive channel importance (Gu et al., CVPR 2020).

Each image gets N latent codes z_n. Every code runs through the first ℓ stages of the frozen staged
generator to a feature map F_n with C_ℓ channels; the maps are fused with a per-code, per-channel
importance α_n ∈ R^{C_ℓ} as the reference does, F = Σ_n α_n ⊙ F_n / N, and F runs through the
remaining stages. All z_n and α_n are optimised jointly against the observation through the forward
operator, so every task (inpainting = masked loss, colorization = gray comparison, SR = downsampled
comparison, denoising) is the same loop.

As in plain inversion, per-image losses are summed and the generator runs in eval mode, so a batch of
one gives the same numbers as the batched path; with N = 1 and α frozen at 1 the method *is* plain
inversion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..errors import GanpriorError
from ..features import FeatureMetric
from ..models import StagedGenerator, map_tensors
from ..physics import Operator
from .base import Callback, Init, Result, SolverConfig
from .init import search_latents
from .invert import Objective
from .loop import run_steps

if TYPE_CHECKING:
    from ..checkpoint import Prior

OPTIMIZERS = ("adam", "sgd")


@dataclass
class MGANConfig(SolverConfig):
    """codes: N; layer: composition stage ℓ (stages [0, ℓ) run per code; negative counts from the
    output, like a Python index); optimizer: ``adam`` or ``sgd`` (the reference: plain SGD, lr 1);
    init_samples: code 0 starts at the best of that many prior samples (0: all codes random, as the
    reference), the others at N(0, I) draws; alpha_init: start value of α (None: 1/N, the
    reference); learn_alpha: False freezes α; loss / latent_weight / feature_weight as for
    ``InvertConfig``. Task presets: ``TASK_PRESETS``."""

    codes: int = 20
    layer: int = 2
    optimizer: str = "adam"
    lr: float = 0.05
    init_samples: int = 500
    alpha_init: float | None = None
    learn_alpha: bool = True
    loss: str = "mse"
    latent_weight: float = 1e-3
    feature_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise GanpriorError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.codes < 1:
            raise GanpriorError(f"need at least one latent code, got {self.codes}")

    @classmethod
    def task_preset(cls, task: str, prior: Prior, steps: int | None) -> dict[str, Any]:
        """``TASK_PRESETS[task]``; on a generator above ``MEASURED_UP_TO`` px, ℓ is the stage whose
        input is the reference's feature side for the task (``REFERENCE_SIDES``)."""
        preset = dict(TASK_PRESETS.get(task, {}))
        g = prior.generator
        if preset and g.resolution > MEASURED_UP_TO:
            preset["layer"] = stage_at_side(g, REFERENCE_SIDES[task])
        return preset


def composition_stage(generator: StagedGenerator, layer: int) -> int:
    """``layer`` as a stage index in [0, num_stages); a negative one counts from the output."""
    stage = layer % generator.num_stages if layer < 0 else layer
    if not 0 <= stage < generator.num_stages:
        raise GanpriorError(
            f"mgan: composition stage {layer} is outside this generator's {generator.num_stages} stages"
        )
    return stage


def stage_at_side(generator: StagedGenerator, side: int) -> int:
    """The first stage whose input feature map is at least ``side`` px wide (probed with one latent;
    the last stage if none is)."""
    device = next(generator.parameters()).device
    z = generator.sample_latent(1, torch.Generator().manual_seed(0)).to(device)
    labels = torch.zeros(1, dtype=torch.long, device=device) if generator.num_classes else None
    with torch.no_grad():
        contexts = generator.stage_contexts(z, labels)
        h = generator.embed(z, labels)
        for stage in range(generator.num_stages):
            features = h[0] if isinstance(h, tuple) else h
            if features.dim() == 4 and features.shape[-1] >= side:
                return stage
            h = generator.synthesize(h, stage, stage + 1, contexts)
    return generator.num_stages - 1


def fuse(
    generator: StagedGenerator, codes: Tensor, alpha: Tensor, classes: Tensor | None, layer: int
) -> Tensor:
    """Multi-code synthesis: codes (B, N, latent_dim), α (B, N, C_ℓ), classes (B, K) or None ->
    image (B, C, H, W) in [-1, 1], with F = Σ_n α_n ⊙ F_n / N fused after stage ``layer``.

    Stages with their own conditioning (``stage_contexts``) get each code's before the fusion and
    code 0's (the searched start) after it; when stages carry a tuple (features, skip image, ...),
    the features are fused as above and the other entries averaged over the codes."""
    b, n, d = codes.shape
    stage = composition_stage(generator, layer)
    flat = codes.reshape(b * n, d)
    per_code = None if classes is None else classes.repeat_interleave(n, dim=0)
    contexts = generator.stage_contexts(flat, per_code)
    carried = generator.synthesize(generator.embed(flat, per_code), 0, stage, contexts)
    features = carried[0] if isinstance(carried, tuple) else carried
    features = features.reshape(b, n, *features.shape[1:])
    weights = alpha.reshape(b, n, alpha.shape[-1], *[1] * (features.dim() - 3))
    fused = (weights * features).sum(dim=1) / n
    if isinstance(carried, tuple):
        rest = map_tensors(lambda t: t.reshape(b, n, *t.shape[1:]).mean(1), carried[1:])
        fused = (fused, *rest)
    first = map_tensors(lambda t: t.reshape(b, n, *t.shape[1:])[:, 0], contexts)
    return generator.synthesize(fused, stage, contexts=first)


def feature_channels(generator: StagedGenerator, layer: int) -> int:
    """C_ℓ: channels of the feature map entering stage ``layer``."""
    probe = torch.zeros(1, generator.latent_dim, device=next(generator.parameters()).device)
    labels = torch.zeros(1, dtype=torch.long, device=probe.device) if generator.num_classes else None
    contexts = generator.stage_contexts(probe, labels)
    with torch.no_grad():
        h = generator.synthesize(
            generator.embed(probe, labels), 0, composition_stage(generator, layer), contexts
        )
    return (h[0] if isinstance(h, tuple) else h).shape[1]


def initial_codes(
    generator: StagedGenerator, observation: Tensor, operator: Operator, config: MGANConfig
) -> tuple[Tensor, Tensor | None]:
    """Start codes (B, N, latent_dim) and class labels (B,) or None, seeded by ``config.seed``.

    With ``init_samples`` > 0, code 0 is the best-of-K latent of plain inversion (the same draw) and
    its class is kept; the other codes (all of them otherwise) are N(0, I) draws. Every image's
    draws are the same function of the seed, whatever the batch and the image's place in it, so
    a batch gives what its images give one at a time.
    """
    rng = torch.Generator().manual_seed(config.seed)
    b = observation.shape[0]
    labels = None
    searched = config.init_samples > 0
    if searched:
        first, labels = search_latents(generator, observation, operator, config.init_samples, rng)
    extra = config.codes - int(searched)
    rest = generator.sample_latent(extra, rng).to(observation.device).expand(b, extra, generator.latent_dim)
    codes = torch.cat([first[:, None], rest], dim=1) if searched else rest.clone()
    if labels is None and generator.num_classes:
        labels = generator.sample_classes(1, rng).to(observation.device).expand(b).clone()
    return codes, labels


def mgan(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    config: MGANConfig | None = None,
    callback: Callback | None = None,
    features: FeatureMetric | None = None,
    init: Init | None = None,
) -> Result:
    """Multi-code inversion of N observations (N, C', H', W') in [-1, 1] through ``operator``.

    Returns a ``Result`` with latent (N, codes, latent_dim) and extras ``alpha`` (N, codes, C_ℓ)
    and ``layer`` (the stage index ℓ), which ``fuse`` turns back into the image. ``init``: start
    codes (N, codes, latent_dim) and labels, by default ``initial_codes``.
    """
    config = config or MGANConfig()
    stage = composition_stage(generator, config.layer)
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    b = observation.shape[0]
    codes0, labels = init if init is not None else initial_codes(generator, observation, operator, config)
    classes = generator.class_vector(labels, b) if labels is not None else None
    z = codes0.detach().clone().requires_grad_(True)
    start_alpha = 1 / config.codes if config.alpha_init is None else config.alpha_init
    alpha = torch.full(
        (b, config.codes, feature_channels(generator, stage)), start_alpha, device=observation.device
    ).requires_grad_(config.learn_alpha)
    params = [z, alpha] if config.learn_alpha else [z]
    optimizer = (
        torch.optim.Adam(params, lr=config.lr)
        if config.optimizer == "adam"
        else torch.optim.SGD(params, lr=config.lr)
    )
    objective = Objective(observation, config, generator.latent_nll, features)
    history = run_steps(
        lambda _: objective(operator(fuse(generator, z, alpha, classes, stage)), z),
        [optimizer],
        config.steps,
        b,
        callback,
        estimate=lambda: fuse(generator, z, alpha, classes, stage),
    )
    with torch.no_grad():
        image = fuse(generator, z, alpha, classes, stage)
    return Result(
        image,
        z.detach(),
        classes,
        history,
        time.perf_counter() - started,
        extras={"alpha": alpha.detach(), "layer": stage},
    )


TASK_PRESETS: dict[str, dict[str, int]] = {
    "inpaint": {"steps": 600, "codes": 30, "layer": -4},
    "colorize": {"steps": 300, "codes": 20, "layer": -4},
    "sr": {"steps": 400, "codes": 30, "layer": -3},
    "denoise": {"steps": 300, "codes": 20, "layer": -4},
    "hybrid": {"steps": 600, "codes": 30, "layer": -4},
    "edit": {"steps": 400, "codes": 30, "layer": -4},
}
TASK_PRESETS["reconstruct"] = TASK_PRESETS["edit"]  # inverting a clean image, as before editing it
"""The reference's presets (iterations 3000/1500/2000/2000, ℓ 4 or 6, N 20 or 30) scaled to our models: a
fifth of the iterations, and on the 32–64 px generators they were measured on, ℓ counted from the output
(-4: the 4×4 or 8×8 features, -3: one stage deeper)."""
MEASURED_UP_TO = 64
"""The largest output side (px) the negative ℓ of ``TASK_PRESETS`` were measured on."""
REFERENCE_SIDES = {
    "inpaint": 8,
    "colorize": 8,
    "denoise": 8,
    "hybrid": 8,
    "sr": 16,
    "edit": 16,
    "reconstruct": 16,
}
"""The feature side (px) at which the reference composes per task on a larger generator: PGGAN's ℓ = 4
is its 8×8 block, ℓ = 6 its 16×16 one, at 256 and at 1024 px alike (inpainting and colorization ℓ = 4;
inversion, SR and editing ℓ = 6; denoising and hybrid, which it does not run, as inpainting)."""


def solve(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    config: MGANConfig,
    *,
    init: Init | None = None,
    callback: Callback | None = None,
) -> Result:
    """The registered method: ``mgan`` on the prior's generator (pixel MSE in the degraded space)."""
    composition_stage(prior.generator, config.layer)
    return mgan(prior.generator, observation, operator, config, callback=callback, init=init)

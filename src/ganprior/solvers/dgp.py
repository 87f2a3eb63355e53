"""DGP — Deep Generative Prior (Pan et al. 2020): the latent AND the generator are fitted per image.

θ*, z* = argmin_{θ,z} w_feature·Σ_i ‖F_i(φ(G(z; θ))) − F_i(x̂)‖ + w_mse·MSE(φ(G(z; θ)), x̂) + w_nll·NLL(z)

with F the discriminator's block features (L1) or VGG16's (MSE), φ the degradation, x̂ the
observation, NLL the generator's ``latent_nll`` (mean(z²/2) for an N(0, I) latent). The generator's
parameters are split into groups in depth order (``parameter_groups``); a ``Schedule`` runs stages
that train the first ``depth`` groups (lr_g · lr_ratio^i) and keep the rest at learning rate 0, as
the reference does (frozen groups stay in Adam, betas (0, 0.999)).

Batched: N images fine-tune N copies of the generator at once (``PerImageGenerator``). The
parameters are stacked (N, ...) and the generator is run per image with
``torch.func.functional_call`` under ``vmap``, so each copy only ever sees its own image; the N
per-image losses are summed, and Adam's updates (fused: one pass over the few large stacked
tensors) are element-wise, so a batch of one gives the same numbers as the batched path up to float
rounding (vmap runs the convolutions grouped; see tests/test_dgp.py for the tolerance).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..errors import GanpriorError
from ..features import FeatureMetric, default_metric, discriminator_metric, vgg_metric
from ..losses import pixel_loss
from ..models import StagedGenerator
from ..physics import Operator
from ..schedule import Schedule, preset
from .base import Callback, Init, Result, SolverConfig
from .init import search_latents
from .loop import run_steps
from .per_image import PerImageGenerator, per_sample

if TYPE_CHECKING:
    from ..checkpoint import Prior

METRICS = ("auto", "discriminator", "vgg")


@dataclass
class DGPConfig(SolverConfig):
    """``schedule``: the name of the reference schedule (``schedule.REFERENCE``: a task, ``sr-mse``
    or ``manipulate``), mapped onto the generator and scaled (``task_schedule``) and rescaled to
    ``steps`` iterations (None: its own); ``metric``: the feature network, ``auto`` (the
    discriminator's when the prior has one, else VGG16), ``discriminator`` or ``vgg``. Latent
    search: best of ``init_samples`` prior samples (std from the schedule) under the last
    ``init_layers`` features; loss over the last ``feature_layers`` features (None = all); seed.
    ``solve`` resolves schedule, steps and metric; ``dgp`` takes them resolved."""

    steps: int | None = None
    schedule: str = "inpaint"
    metric: str = "auto"
    init_samples: int = 500
    init_layers: int = 3
    feature_layers: int | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise GanpriorError(f"unknown metric {self.metric!r}; choose one of {', '.join(METRICS)}")

    @classmethod
    def task_preset(cls, task: str, prior: Prior, steps: int | None) -> dict[str, Any]:
        """The task's own schedule (``reconstruct``: ``manipulation_schedule``), at its preset
        length for this generator unless ``steps`` is given."""
        schedule = manipulation_schedule(prior) if task == "reconstruct" else task
        return {"schedule": schedule, "steps": steps or task_schedule(schedule, prior.generator).iterations}


def manipulation_schedule(prior: Prior) -> str:
    """The schedule DGP reconstructs an image with before editing it: the reference's
    ``manipulate`` with a discriminator's features, ``manipulate-pixel`` with VGG16's."""
    return "manipulate" if prior.discriminator is not None else "manipulate-pixel"


def parameter_groups(generator: StagedGenerator) -> list[list[str]]:
    """Parameter names in depth order: [embedding + stage 0], [stage 1], …, [last stage]."""
    groups: list[list[str]] = [[] for _ in range(generator.num_stages)]
    for name, _ in generator.named_parameters():
        index = int(name.split(".")[1]) if name.startswith("stages.") else 0
        groups[index].append(name)
    return [g for g in groups if g]


def dgp(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    schedule: Schedule,
    metric: FeatureMetric,
    config: DGPConfig | None = None,
    init: Init | None = None,
    callback: Callback | None = None,
    state: dict[str, Tensor] | None = None,
) -> Result:
    """Restore N observations (N, C', H', W') in [-1, 1] by fine-tuning per-image generators.

    ``init``: start latents (N, latent_dim) and labels (N,) or class vectors (N, K); by default DGP's
    initialisation: the best of ``config.init_samples`` prior samples pulled towards the prior's
    centre by ``init_std`` (z ~ N(0, init_std²) for an N(0, I) latent; ``latent_start``) and random
    classes, under the last ``config.init_layers`` features of ``metric``. ``state``: start parameters {name: (N, ...)} (default: the generator's own,
    copied per image). Returns a ``Result`` whose ``generator_state`` holds the N tuned copies.
    """
    config = config or DGPConfig()
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    n, device = observation.shape[0], observation.device
    rng = torch.Generator().manual_seed(config.seed)
    z0, labels = init or search_latents(
        generator,
        observation,
        operator,
        config.init_samples,
        rng,
        metric,
        layers=config.init_layers,
        std=schedule.init_std,
        chunk=50,
    )
    classes = generator.class_vector(labels, n) if labels is not None else None
    z = z0.detach().clone().to(device).requires_grad_(True)
    tune = any(s.depth != 0 for s in schedule.stages)
    copies = PerImageGenerator(generator, n, state, trainable=tune)
    groups = parameter_groups(generator)
    betas = (0.0, 0.999)
    opt_z = torch.optim.Adam([z], lr=0.0, betas=betas, fused=True)
    opt_g = (
        torch.optim.Adam(
            [{"params": [copies.leaves[k] for k in g], "lr": 0.0} for g in groups], betas=betas, fused=True
        )
        if tune
        else None
    )
    targets = [t.detach() for t in metric.features(observation)]
    stage_of_step = [s for s in schedule.stages for _ in range(s.iterations)]

    def loss(step: int) -> Tensor:
        stage = stage_of_step[step]
        if step == 0 or stage is not stage_of_step[step - 1]:  # a new stage: its learning rates
            opt_z.param_groups[0]["lr"] = stage.lr_z
            depth = len(groups) if stage.depth is None else stage.depth
            if opt_g is not None:
                for i, group in enumerate(opt_g.param_groups):
                    group["lr"] = stage.lr_g * stage.lr_ratio**i if i < depth else 0.0
        predicted = operator(copies(z, classes))
        value = stage.w_nll * generator.latent_nll(z)
        if stage.w_mse:
            value = value + stage.w_mse * pixel_loss(predicted, observation)
        if stage.w_feature:
            feats = metric.features(predicted)
            value = value + stage.w_feature * metric.distance(feats, targets, config.feature_layers)
        return value

    optimizers = [opt_z] if opt_g is None else [opt_z, opt_g]
    history = run_steps(
        loss, optimizers, schedule.iterations, n, callback, estimate=lambda: copies(z, classes)
    )
    with torch.no_grad():
        image = copies(z, classes)
    tuned = copies.state() if tune else None
    return Result(
        image,
        z.detach(),
        classes,
        history,
        time.perf_counter() - started,
        generator_state=tuned,
        extras={"schedule": schedule.rows(), "metric": metric.name},
    )


def render(
    generator: StagedGenerator, state: dict[str, Tensor], z: Tensor, classes: Tensor | None = None
) -> Tensor:
    """Images of per-image generator copies: state {name: (N, ...)}, z (N, d), classes (N, K) | None
    -> (N, C, H, W) in [-1, 1]. Used by the editing tools (jitter, morphing, category transfer)."""
    with torch.no_grad():
        return per_sample(generator, (0, None if classes is None else 0))(state, z, classes)


ITERATIONS_SCALE = 0.3
"""The presets' iteration counts × this for our small generators on a CPU (300-420 iterations)."""
LR_Z_SCALE, LR_G_SCALE = 1.0, 3.0
"""The presets' learning rates × these. Chosen on 6 Fashion-MNIST *training* images with a fashion32
checkpoint (step 2750), 300 iterations: inpainting hole PSNR 15.9 / 17.2 / 13.2 dB at lr_g × 1 / 3 / 30
(plain inversion 14.0); ×4 SR 19.0 / 19.2 / 19.1 / 17.5 dB at × 0.3 / 1 / 3 / 10 (inversion 18.6);
lr_z × 10 changed nothing (±0.05 dB)."""


def task_schedule(name: str, generator: StagedGenerator, steps: int | None = None) -> Schedule:
    """The DGP preset ``name`` (a task, ``sr-mse`` or ``manipulate``) for ``generator``, scaled;
    ``steps`` rescales it to that many iterations."""
    schedule = preset(name, len(parameter_groups(generator)), ITERATIONS_SCALE, LR_Z_SCALE, LR_G_SCALE)
    return schedule if steps is None else schedule.with_total(steps)


def feature_metric(prior: Prior, name: str) -> FeatureMetric:
    """The feature network ``name`` of ``DGPConfig.metric`` for ``prior``."""
    if name == "discriminator":
        return discriminator_metric(prior)
    if name == "vgg":
        return vgg_metric(next(prior.generator.parameters()).device)
    return default_metric(prior)


def solve(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    config: DGPConfig,
    *,
    init: Init | None = None,
    callback: Callback | None = None,
) -> Result:
    """The registered method: DGP with ``config``'s schedule and feature metric on the prior."""
    schedule = task_schedule(config.schedule, prior.generator, config.steps)
    metric = feature_metric(prior, config.metric)
    return dgp(prior.generator, observation, operator, schedule, metric, config, init, callback)

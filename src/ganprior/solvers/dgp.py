"""DGP — Deep Generative Prior (Pan et al. 2020): the latent AND the generator are fitted per image.

θ*, z* = argmin_{θ,z} w_feature·Σ_i ‖F_i(φ(G(z; θ))) − F_i(x̂)‖ + w_mse·MSE(φ(G(z; θ)), x̂) + w_nll·mean(z²/2)

with F the discriminator's block features (L1) or VGG16's (MSE), φ the degradation, x̂ the
observation. The generator's parameters are split into groups in depth order (``parameter_groups``);
a ``Schedule`` runs stages that train the first ``depth`` groups (lr_g · lr_ratio^i) and keep the
rest at learning rate 0, as the reference does (frozen groups stay in Adam, betas (0, 0.999)).

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

import torch
from torch import Tensor

from ..checkpoint import Prior
from ..features import FeatureMetric, default_metric
from ..losses import latent_prior, pixel_loss
from ..models import StagedGenerator
from ..physics import Operator
from ..schedule import Schedule, preset
from .base import Callback, Result
from .per_image import PerImageGenerator, per_sample


@dataclass
class DGPConfig:
    """Latent search: best of ``init_samples`` prior samples (std from the schedule) under the last
    ``init_layers`` features; loss over the last ``feature_layers`` features (None = all); seed."""

    init_samples: int = 500
    init_layers: int = 3
    feature_layers: int | None = None
    seed: int = 0


def parameter_groups(generator: StagedGenerator) -> list[list[str]]:
    """Parameter names in depth order: [embedding + stage 0], [stage 1], …, [last stage]."""
    groups: list[list[str]] = [[] for _ in range(generator.num_stages)]
    for name, _ in generator.named_parameters():
        index = int(name.split(".")[1]) if name.startswith("stages.") else 0
        groups[index].append(name)
    return [g for g in groups if g]


def _shared(operator: Operator, n: int, like: Tensor) -> bool:
    """Whether all N images have the same degradation (one mask for all, or none)."""
    probe = torch.rand_like(like[:1]) * 2 - 1
    first = operator.select([0])(probe)
    return all(torch.equal(operator.select([i])(probe), first) for i in range(1, n))


@torch.no_grad()
def select_latents(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    metric: FeatureMetric,
    count: int,
    rng: torch.Generator,
    std: float = 1.0,
    layers: int = 3,
    chunk: int = 50,
) -> tuple[Tensor, Tensor | None]:
    """DGP's initialisation: for each of the N observations, the latent z ~ N(0, std²) — and, for a
    conditional generator, the random class drawn with it — among ``count`` samples whose degraded
    image is closest under the last ``layers`` features. Returns z (N, latent_dim), labels (N,) | None.

    The samples are shared by all N images; when all images share one degradation, each sample's
    features are computed once.
    """
    n = observation.shape[0]
    device = observation.device
    targets = metric.features(observation)
    best = torch.full((n,), float("inf"), device=device)
    best_z = torch.zeros(n, generator.latent_dim, device=device)
    best_y = torch.zeros(n, dtype=torch.long, device=device)
    shared = None
    for start in range(0, max(count, 1), chunk):
        size = min(chunk, max(count, 1) - start)
        z = generator.sample_latent(size, rng).to(device) * std
        labels = generator.sample_classes(size, rng)
        labels = labels.to(device) if labels is not None else None
        images = generator(z, labels)
        shared = _shared(operator, n, images) if shared is None else shared
        feats = metric.features(operator.select([0])(images)) if shared else None
        for i in range(n):
            mine = feats if shared else metric.features(operator.select([i])(images))
            target = [t[i : i + 1].expand_as(f) for t, f in zip(targets, mine, strict=True)]
            d = metric.distance(mine, target, layers)
            k = int(torch.argmin(d))
            if d[k] < best[i]:
                best[i], best_z[i] = d[k], z[k]
                if labels is not None:
                    best_y[i] = labels[k]
    return best_z, (best_y if generator.num_classes else None)


def dgp(
    generator: StagedGenerator,
    observation: Tensor,
    operator: Operator,
    schedule: Schedule,
    metric: FeatureMetric,
    config: DGPConfig | None = None,
    init: tuple[Tensor, Tensor | None] | None = None,
    callback: Callback | None = None,
    state: dict[str, Tensor] | None = None,
) -> Result:
    """Restore N observations (N, C', H', W') in [-1, 1] by fine-tuning per-image generators.

    ``init``: start latents (N, latent_dim) and labels (N,) or class vectors (N, K); by default
    ``select_latents``. ``state``: start parameters {name: (N, ...)} (default: the generator's own,
    copied per image). Returns a ``Result`` whose ``generator_state`` holds the N tuned copies.
    """
    config = config or DGPConfig()
    started = time.perf_counter()
    generator.eval().requires_grad_(False)
    n, device = observation.shape[0], observation.device
    rng = torch.Generator().manual_seed(config.seed)
    z0, labels = init or select_latents(
        generator,
        observation,
        operator,
        metric,
        config.init_samples,
        rng,
        schedule.init_std,
        config.init_layers,
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
    history = torch.zeros(schedule.iterations, n)
    step = 0
    for stage in schedule.stages:
        opt_z.param_groups[0]["lr"] = stage.lr_z
        depth = len(groups) if stage.depth is None else stage.depth
        if opt_g is not None:
            for i, group in enumerate(opt_g.param_groups):
                group["lr"] = stage.lr_g * stage.lr_ratio**i if i < depth else 0.0
        for _ in range(stage.iterations):
            predicted = operator(copies(z, classes))
            loss = stage.w_nll * latent_prior(z)
            if stage.w_mse:
                loss = loss + stage.w_mse * pixel_loss(predicted, observation)
            if stage.w_feature:
                feats = metric.features(predicted)
                loss = loss + stage.w_feature * metric.distance(feats, targets, config.feature_layers)
            opt_z.zero_grad(set_to_none=True)
            if opt_g is not None:
                opt_g.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt_z.step()
            if opt_g is not None:
                opt_g.step()
            history[step] = loss.detach().cpu()
            if callback is not None:
                callback(step, history[step])
            step += 1
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


def task_schedule(task: str, generator: StagedGenerator, steps: int | None = None) -> Schedule:
    """The DGP preset of ``task`` for ``generator``, scaled; ``steps`` rescales it to that many iterations."""
    schedule = preset(task, len(parameter_groups(generator)), ITERATIONS_SCALE, LR_Z_SCALE, LR_G_SCALE)
    return schedule if steps is None else schedule.with_total(steps)


def solve_dgp(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    task: str,
    steps: int | None,
    seed: int,
    callback: Callback | None,
) -> Result:
    """DGP with the task's preset; the discriminator's features, or VGG16's for a prior without one."""
    schedule = task_schedule(task, prior.generator, steps)
    metric = default_metric(prior)
    return dgp(
        prior.generator, observation, operator, schedule, metric, DGPConfig(seed=seed), callback=callback
    )

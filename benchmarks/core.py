"""The core suites: plain GAN inversion with face64 on its own samples and on real face photographs,
and batched against one-at-a-time inversion (tables ``core_*``)."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from ganprior import examples, metrics
from ganprior.checkpoint import Prior
from ganprior.physics import RESTORATION_TASKS, Operator, build_operator
from ganprior.solvers import InvertConfig, invert

from .common import BenchOptions, Suite, Table, resources, restoration_rows

GENERATED, REAL, SPEED = "core_invert_face64_generated", "core_invert_face64_real", "core_speed_face64"


def speed_rows(prior: Prior, clean: Tensor, steps: int, seed: int) -> list[dict[str, Any]]:
    """Batched inversion of N images against the same solver run one image at a time."""
    g = prior.generator
    operator = build_operator("inpaint", g.resolution, g.channels).to(clean.device)
    observation = operator(clean)
    config = InvertConfig(steps=steps, seed=seed)
    started = time.perf_counter()
    batched = invert(g, observation, operator, config)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    singles = [invert(g, observation[i : i + 1], operator.select([i]), config) for i in range(len(clean))]
    single_s = time.perf_counter() - started
    single_images = torch.cat([r.image for r in singles])
    flops = step_flops(prior, observation, operator)
    n = len(clean)
    return [
        {
            "mode": "batch 1, one image at a time",
            "images": n,
            "steps": steps,
            "images/s": n / single_s,
            "GFLOP/s": flops / n * steps * n / single_s / 1e9,
        },
        {
            "mode": f"batched ({n} at once)",
            "images": n,
            "steps": steps,
            "images/s": n / batched_s,
            "GFLOP/s": flops * steps / batched_s / 1e9,
        },
        {
            "mode": "speed-up (batched / batch 1)",
            "images": n,
            "steps": steps,
            "images/s": single_s / batched_s,
            "max |Δ pixel|": float((batched.image - single_images).abs().max()),
            "max |Δ latent|": float((batched.latent - torch.cat([r.latent for r in singles])).abs().max()),
        },
    ]


def step_flops(prior: Prior, observation: Tensor, operator) -> float:
    """FLOPs of one inversion step (forward + backward) on the whole batch."""
    g = prior.generator
    z = torch.zeros(observation.shape[0], g.latent_dim, device=observation.device, requires_grad=True)
    labels = g.sample_classes(observation.shape[0])
    with FlopCounterMode(display=False) as counter:
        (operator(g(z, labels)) - observation).square().mean().backward()
    return float(counter.get_total_flops())


def core_protocol(count: int, steps: int | None) -> str:
    default = InvertConfig()
    return (
        f"Protocol: {count} images per set; each degraded by the task's seeded simulation (reconstruct: none; inpaint: "
        "centred hole of 1/3 the side; sr: ×4 antialiased bicubic; colorize: ITU-R 601 luma; denoise: σ = 0.1; "
        f"hybrid: hole + gray + ×4). Inversion: Adam lr {default.lr}, {steps or default.steps} steps, best of "
        f"{default.init_samples} initial samples, MSE in the degraded space + {default.latent_weight:g} latent prior. "
        "Metrics on [0, 1] intensities against the clean image, after projecting onto the observation (known pixels "
        "/ luminance kept); psnr_hole/ssim_hole: the hole only (DGP's protocol)."
    )


def reconstruction_row(
    prior: Prior, data: str, clean: Tensor, steps: int | None, seed: int
) -> dict[str, Any]:
    """Plain inversion of clean images (no degradation): median full-image PSNR/SSIM and seconds per image."""
    config = InvertConfig(seed=seed) if steps is None else InvertConfig(steps=steps, seed=seed)
    started = time.perf_counter()
    result = invert(prior.generator, clean, Operator(), config)
    seconds = (time.perf_counter() - started) / len(clean)
    return {
        "model": prior.name,
        "data": data,
        "task": "reconstruct",
        "method": "invert",
        "images": len(clean),
        "psnr (median)": metrics.median(metrics.psnr(result.image, clean)),
        "ssim (median)": metrics.median(metrics.ssim(result.image, clean)),
        "s/image": seconds,
    }


def core_generated_suite(options: BenchOptions) -> list[Table]:
    """Plain inversion with face64 on its own samples (true latent known): reconstruction + the five tasks."""
    prior = resources().model("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, None)
    generated = examples.prior_samples(prior, count, options.seed)
    rows = [reconstruction_row(prior, "generated", generated, steps, options.seed)]
    rows += restoration_rows(
        prior, "generated", generated, RESTORATION_TASKS, ["invert"], steps, options.seed
    )
    title = "Plain GAN inversion with face64 (64×64) on generated faces"
    return [Table(GENERATED, title, core_protocol(count, steps), rows)]


def core_real_suite(options: BenchOptions) -> list[Table]:
    """Plain inversion with face64 on real face photographs (LFW, astronaut, Grace Hopper)."""
    prior = resources().model("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, None)
    lfw = examples.fit_to_prior([img for _, img in resources().lfw_faces(count)], prior)
    color = examples.fit_to_prior([img for _, img in resources().color_faces()], prior)
    gray_tasks = [t for t in RESTORATION_TASKS if t != "colorize"]
    rows = restoration_rows(prior, "LFW real faces (gray)", lfw, gray_tasks, ["invert"], steps, options.seed)
    rows += restoration_rows(
        prior, "colour photos (astronaut, Grace Hopper)", color, ["colorize"], ["invert"], steps, options.seed
    )
    title = "Plain GAN inversion with face64 (64×64) on real face photographs"
    return [Table(REAL, title, core_protocol(count, steps), rows)]


def core_speed_suite(options: BenchOptions) -> list[Table]:
    """Batched inversion of 16 images against batch 1 (one image at a time), same steps: speed-up and GFLOP/s."""
    prior = resources().model("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, 100)
    generated = examples.prior_samples(prior, count, options.seed)
    return [
        Table(
            SPEED,
            "Batched vs one-at-a-time inversion (face64, inpainting)",
            f"Same {count} images, {steps} steps, same seed; each run includes its best-of-500 latent search (batch 1 "
            "searches per image, as the reference implementations do). GFLOP/s counts forward + backward FLOPs of the "
            "inversion loop (torch.utils.flop_counter).",
            speed_rows(prior, generated, steps, options.seed),
        )
    ]


def core_suite(options: BenchOptions) -> list[Table]:
    """The core tables: core-generated, core-real and core-speed together."""
    return core_generated_suite(options) + core_real_suite(options) + core_speed_suite(options)


SUITES = [
    Suite("core", core_suite, (GENERATED, REAL, SPEED)),
    Suite("core-generated", core_generated_suite, (GENERATED,)),
    Suite("core-real", core_real_suite, (REAL,)),
    Suite("core-speed", core_speed_suite, (SPEED,)),
]

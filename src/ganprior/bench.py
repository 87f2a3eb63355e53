"""Benchmarks: seeded, reproducible tables written to ``benchmarks/results/`` (markdown + JSON).

A suite is a function ``suite(options) -> list[Table]``. This module holds the shared table
machinery and issue 2's suites (``CORE_SUITES``); ``bench_dgp``, ``bench_mgan`` and ``bench_rgi``
hold the others; ``ganprior bench SUITE`` (``commands.bench.SUITES``) runs one and writes every
table. Benchmarks measure; tests assert behaviour.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from . import examples, metrics, zoo
from .checkpoint import Prior
from .imageio import fit, pil_to_tensor
from .physics import TASKS, Operator, build_operator, make_mask
from .pipeline import restore
from .report import write_json
from .solvers import InvertConfig, invert


@dataclass
class BenchOptions:
    """out: folder for the tables; quick: few images and steps (a smoke run, not for the README)."""

    out: Path
    device: str = "cpu"
    quick: bool = False
    seed: int = 0


@dataclass
class Table:
    """One result table: rows of {column: value}, with the protocol stated next to the numbers."""

    name: str
    title: str
    protocol: str
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        lines = [
            f"# {self.title}",
            "",
            self.protocol,
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in self.rows]
        lines += [
            "",
            f"Machine: {self.meta.get('machine', '?')}; command: `{self.meta.get('command', '?')}`.",
        ]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if 0 < abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def write_tables(tables: Sequence[Table], out: Path, command: str) -> list[Path]:
    """Write ``NAME.md`` and ``NAME.json`` for every table (whole files)."""
    out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    written = []
    for table in tables:
        table.meta = {"machine": machine, "command": command, **table.meta}
        md = out / f"{table.name}.md"
        part = md.with_name(md.name + ".part")
        part.write_text(table.markdown())
        part.replace(md)
        write_json(
            {"title": table.title, "protocol": table.protocol, "rows": table.rows, "meta": table.meta},
            out / f"{table.name}.json",
        )
        written.append(md)
    return written


def median(values: Tensor) -> float:
    return float(statistics.median(values.tolist()))


def median_scores(scores: dict[str, Tensor]) -> dict[str, float]:
    """Per-image scores {name: (N,)} -> table columns {"name (median)": median}."""
    return {f"{k} (median)": median(v) for k, v in scores.items()}


def images_tensor(images: Sequence[Image.Image], prior: Prior) -> Tensor:
    """PIL images fitted to the prior: (N, C, res, res) in [-1, 1]."""
    g = prior.generator
    return torch.stack([pil_to_tensor(fit(image, g.resolution), g.channels) for image in images])


def generated_images(prior: Prior, count: int, seed: int) -> Tensor:
    """``count`` seeded samples of the prior itself (a true latent exists): (N, C, H, W)."""
    g = prior.generator
    rng = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        return g(g.sample_latent(count, rng), g.sample_classes(count, rng)).cpu()


def restoration_rows(
    prior: Prior,
    data: str,
    clean: Tensor,
    tasks: Sequence[str],
    methods: Sequence[str],
    steps: int | None = None,
    seed: int = 0,
    mask: Tensor | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Median PSNR/SSIM (full image, and hole-only for inpainting) and seconds per image for every
    task × method on ``clean`` images, each degraded with the seeded simulation of the task."""
    rows = []
    device = next(prior.generator.parameters()).device
    for task in tasks:
        for method in methods:
            progress(f"{prior.name} {data} {task} {method} ({len(clean)} images)")
            started = time.perf_counter()
            out = restore(
                prior,
                clean.to(device),
                task,
                method,
                simulate=True,
                mask=mask,
                steps=steps,
                seed=seed,
                batch_size=len(clean),
            )
            seconds = (time.perf_counter() - started) / len(clean)
            row: dict[str, Any] = {
                "model": prior.name,
                "data": data,
                "task": task,
                "method": method,
                "images": len(clean),
            }
            row |= median_scores(out.metrics)
            row["s/image"] = seconds
            rows.append(row)
    return rows


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
    flops = _step_flops(prior, observation, operator)
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


def _step_flops(prior: Prior, observation: Tensor, operator) -> float:
    """FLOPs of one inversion step (forward + backward) on the whole batch."""
    g = prior.generator
    z = torch.zeros(observation.shape[0], g.latent_dim, device=observation.device, requires_grad=True)
    labels = g.sample_classes(observation.shape[0])
    with FlopCounterMode(display=False) as counter:
        (operator(g(z, labels)) - observation).square().mean().backward()
    return float(counter.get_total_flops())


def _core_protocol(count: int, steps: int | None) -> str:
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
        "psnr (median)": median(metrics.psnr(result.image, clean)),
        "ssim (median)": median(metrics.ssim(result.image, clean)),
        "s/image": seconds,
    }


def core_generated_suite(options: BenchOptions) -> list[Table]:
    """Plain inversion with face64 on its own samples (true latent known): reconstruction + the five tasks."""
    prior = zoo.load("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, None)
    generated = generated_images(prior, count, options.seed)
    rows = [reconstruction_row(prior, "generated", generated, steps, options.seed)]
    rows += restoration_rows(prior, "generated", generated, TASKS, ["invert"], steps, options.seed)
    title = "Plain GAN inversion with face64 (64×64) on generated faces"
    return [Table("core_invert_face64_generated", title, _core_protocol(count, steps), rows)]


def core_real_suite(options: BenchOptions) -> list[Table]:
    """Plain inversion with face64 on real face photographs (LFW, astronaut, Grace Hopper)."""
    prior = zoo.load("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, None)
    lfw = images_tensor([img for _, img in examples.lfw_faces(count)], prior)
    color = images_tensor([img for _, img in examples.color_faces()], prior)
    gray_tasks = [t for t in TASKS if t != "colorize"]
    rows = restoration_rows(prior, "LFW real faces (gray)", lfw, gray_tasks, ["invert"], steps, options.seed)
    rows += restoration_rows(
        prior, "colour photos (astronaut, Grace Hopper)", color, ["colorize"], ["invert"], steps, options.seed
    )
    title = "Plain GAN inversion with face64 (64×64) on real face photographs"
    return [Table("core_invert_face64_real", title, _core_protocol(count, steps), rows)]


def core_speed_suite(options: BenchOptions) -> list[Table]:
    """Batched inversion of 16 images against batch 1 (one image at a time), same steps: speed-up and GFLOP/s."""
    prior = zoo.load("face64", options.device)
    count, steps = (4, 30) if options.quick else (16, 100)
    generated = generated_images(prior, count, options.seed)
    return [
        Table(
            "core_speed_face64",
            "Batched vs one-at-a-time inversion (face64, inpainting)",
            f"Same {count} images, {steps} steps, same seed; each run includes its best-of-500 latent search (batch 1 "
            "searches per image, as the reference implementations do). GFLOP/s counts forward + backward FLOPs of the "
            "inversion loop (torch.utils.flop_counter).",
            speed_rows(prior, generated, steps, options.seed),
        )
    ]


def core_suite(options: BenchOptions) -> list[Table]:
    """Issue 2's tables: core-generated, core-real and core-speed together."""
    return core_generated_suite(options) + core_real_suite(options) + core_speed_suite(options)


CORE_SUITES: dict[str, Callable[[BenchOptions], list[Table]]] = {
    "core": core_suite,
    "core-generated": core_generated_suite,
    "core-real": core_real_suite,
    "core-speed": core_speed_suite,
}


def free_form_mask(resolution: int, seed: int) -> Tensor:
    """The benchmarks' seeded free-form mask (1, H, W)."""
    return make_mask("strokes", resolution, torch.Generator().manual_seed(seed))

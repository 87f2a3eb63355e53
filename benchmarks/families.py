"""The speed suite ``families-speed``: the published GAN families at real sizes, and bf16.

Tables (``benchmarks/results/``):
- ``families_speed``: BigGAN-128, BigGAN-deep-128, PGGAN-256 and StyleGAN2-256 (config-f widths),
  random weights: seconds per optimisation step and peak memory per image of invert, mgan, dgp and
  rrgi at batch 1 and batch 4, and the batch-4 / batch-1 time and memory per image;
- ``precision_face64``: face64 at batch 16 in fp32, bf16 autocast and bf16 autocast + channels_last
  (``--precision bf16``, ``solvers.precision``): step time and PSNR against fp32.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ganprior import examples
from ganprior.checkpoint import Prior
from ganprior.models import StagedGenerator, biggan, biggan_deep, pggan, stylegan2
from ganprior.pipeline import Restoration, restore
from ganprior.solvers.mgan import stage_at_side
from ganprior.solvers.precision import PRECISIONS, generator_precision, native_bf16

from .common import BenchOptions, Suite, Table, resources
from .memory import in_child, peak_during

FAMILIES_TABLE, PRECISION_TABLE = "families_speed", "precision_face64"
PRECISION_CPU_TABLE = "precision_cpu"
METHODS = ("invert", "mgan", "dgp", "rrgi")
BATCHES = (1, 4)
MGAN_CODES = 20
MGAN_SIDE = 32
"""mgan composes its codes where the features are 1/32 of the output side: mGANprior's ℓ = 4 on
PGGAN-256 (8 px). The 32–128 px presets' ℓ = −4 would run every code through most of a real generator."""


def _prior(name: str, g: StagedGenerator, d: Any = None) -> Prior:
    card = {"name": name, "resolution": g.resolution, "channels": g.channels, "discriminator": d is not None}
    return Prior(name, g, d, card).eval()


def biggan_128(quick: bool) -> Prior:
    """DGP's BigGAN-128 (G_ch = D_ch = 96, attention at 64 px, 1000 classes); tiny: 16 px, 10 classes."""
    if quick:
        g = biggan.BigGANGenerator([16, 16, 8], [1], 10, 8, 4)
        return _prior(
            "BigGAN-128", g, biggan.BigGANDiscriminator([[3, 8, 8, True], [8, 16, 16, True]], [0], 10)
        )
    return _prior("BigGAN-128", biggan.reference_generator(128), biggan.reference_discriminator(128))


def biggan_deep_128(quick: bool) -> Prior:
    """huggingface's BigGAN-deep-128 (ch 128, 1000 classes), G only (DGP falls back to VGG16); tiny: 16 px."""
    if quick:
        layers = [[False, 16, 16], [True, 16, 4], [True, 4, 1]]
        return _prior("BigGAN-deep-128", biggan_deep.BigGANDeepGenerator(8, 10, 4, layers, 1, n_stats=3))
    return _prior("BigGAN-deep-128", biggan_deep.reference_generator(128))


def pggan_256(quick: bool) -> Prior:
    """PGGAN-256 (mGANprior's layout, the LSUN models' size) with pytorch_GAN_zoo's D; tiny: 16 px."""
    if quick:
        return _prior(
            "PGGAN-256", pggan.PGGANGenerator([16, 16, 8], 16), pggan.PGGANDiscriminator([16, 16, 8])
        )
    return _prior("PGGAN-256", pggan.reference_generator(256), pggan.reference_discriminator(256))


def stylegan2_256(quick: bool) -> Prior:
    """StyleGAN2-256 with config-f widths (W+ latent, fixed noise) and its D; tiny: 16 px."""
    if quick:
        g = stylegan2.StyleGAN2Generator(16, 16, 2, [16, 16, 8])
        return _prior("StyleGAN2-256", g, stylegan2.StyleGAN2Discriminator(16, [8, 16, 16]))
    return _prior("StyleGAN2-256", stylegan2.reference_generator(256), stylegan2.reference_discriminator(256))


FAMILIES: dict[str, Callable[[bool], Prior]] = {
    "BigGAN-128": biggan_128,
    "BigGAN-deep-128": biggan_deep_128,
    "PGGAN-256": pggan_256,
    "StyleGAN2-256": stylegan2_256,
}


def method_options(method: str, prior: Prior) -> dict[str, object]:
    """What the cells change in each method's inpainting preset: a one-sample start (the timed steps
    are the same after any start), mgan's codes and composition stage, R-RGI tuning from step 0 and
    deciding its mask from its own residual (no frozen RGI pass before the timed tuning steps)."""
    if method == "mgan":
        g = prior.generator
        return {"init_samples": 0, "codes": MGAN_CODES, "layer": stage_at_side(g, g.resolution // MGAN_SIDE)}
    return {"init_samples": 1} | ({"warmup": 0, "decide": "final"} if method == "rrgi" else {})


def timed_restore(
    prior: Prior, clean: Tensor, method: str, steps: int, **kwargs: Any
) -> tuple[Restoration, float]:
    """Seeded inpainting of ``clean`` by ``method`` for ``steps`` steps in one batch: the restoration
    and the mean seconds of the steps after the first (the first also pays set-up and the start)."""
    stamps: list[float] = []
    out = restore(
        prior,
        clean,
        "inpaint",
        method,
        simulate=True,
        steps=steps,
        batch_size=len(clean),
        callback=lambda b, n: lambda step, loss: stamps.append(time.perf_counter()),
        **kwargs,
    )
    return out, (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def warm_up(family: str, method: str, device: str) -> None:
    """Two steps of ``method`` on the family's tiny instance: what a first solve imports and sets up
    once per process (torch.optim's lazy imports, kernels, a CUDA context) is then not measured."""
    prior = FAMILIES[family](True).to(device)
    g = prior.generator
    clean = torch.zeros(1, g.channels, g.resolution, g.resolution)
    timed_restore(prior, clean, method, 2, options=method_options(method, prior))


def measure_cell(
    family: str, method: str, batch: int, steps: int, device: str, quick: bool, seed: int
) -> dict:
    """One cell, meant for a child process: the family's prior on ``device``, ``batch`` seeded random
    images, ``steps`` timed steps after a warm-up step; seconds per step and peak MiB."""
    warm_up(family, method, device)
    torch.manual_seed(seed)
    prior = FAMILIES[family](quick).to(device)
    g = prior.generator
    shape = (batch, g.channels, g.resolution, g.resolution)
    clean = torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    options = method_options(method, prior)
    (_, seconds), peak = peak_during(
        lambda: timed_restore(prior, clean, method, steps + 1, seed=seed, options=options), device
    )
    params = sum(p.numel() for m in (g, prior.discriminator) if m is not None for p in m.parameters())
    return {"seconds": seconds, "peak": peak, "params": params / 1e6}


def family_rows(
    options: BenchOptions, steps: int, progress: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Every family × method × batch, each cell in its own process (forked children inherit the
    imports of a warm-up here; spawned ones warm up themselves)."""
    if not options.device.startswith("cuda"):
        for method in METHODS:
            warm_up(next(iter(FAMILIES)), method, "cpu")
    rows = []
    for family in FAMILIES:
        for method in METHODS:
            single: dict[str, Any] = {}
            for batch in BATCHES:
                progress(f"families-speed: {family} {method} batch {batch}")
                args = (family, method, batch, steps, options.device, options.quick, options.seed)
                cell = in_child(measure_cell, args, options.device)
                row = {
                    "family": family,
                    "G+D params (M)": cell["params"],
                    "method": method,
                    "batch": batch,
                    "s/step": cell["seconds"],
                    "s/step/image": cell["seconds"] / batch,
                    "peak MiB/image": cell["peak"] / batch,
                }
                if batch == 1:
                    single = row
                else:
                    row["time/image ÷ batch 1"] = row["s/step/image"] / single["s/step/image"]
                    row["memory/image ÷ batch 1"] = row["peak MiB/image"] / max(
                        single["peak MiB/image"], 1e-9
                    )
                rows.append(row)
    return rows


def families_protocol(steps: int, device: str, minutes: float) -> str:
    memory = (
        "torch.cuda.max_memory_allocated over the solve minus what was allocated before"
        if device.startswith("cuda")
        else "the child's peak resident set (VmHWM, reset just before the solve) minus its resident set "
        "before it (tracemalloc misses torch's allocations)"
    )
    return (
        "Protocol: random weights at published sizes, each family's smallest that the references or the "
        "released models use (a cell's time grows with the side²): BigGAN-128 (DGP's "
        "model, G_ch = D_ch = 96), BigGAN-deep-128 (huggingface's, no D: DGP uses VGG16), PGGAN-256 "
        "(mGANprior's layout at the LSUN size its and RGI's experiments use, with pytorch_GAN_zoo's D) and "
        "StyleGAN2-256 with config-f widths (the LSUN-256 models' config; W+; the same widths give 30.37M "
        f"parameters at 1024 px). These cells took {minutes:.1f} min here (wall; shared machine). Each cell runs "
        "in its own process: seeded random images, centred-hole inpainting, the method's preset with a "
        f"one-sample start, 1 warm-up step then {steps} timed steps (s/step is their mean, the first step paying "
        f"set-up; on CUDA every step ends in a host copy of its losses, so it is synchronised). mgan: {MGAN_CODES} "
        f"codes composed at the stage whose input is 1/{MGAN_SIDE} of the output side (mGANprior's ℓ = 4 on "
        "PGGAN-256); dgp: its inpainting schedule (every group carries per-image weights; D features, VGG16 "
        "without D); rrgi: per-image generator copies from step 0 (its tuning phase). Peak memory: "
        f"{memory}, divided by the batch; the weights themselves are not counted. time/image ÷ batch 1 < 1: "
        f"batching pays. Device: {device}."
    )


def precision_rows(
    prior: Prior, clean: Tensor, steps: int, speed_steps: int, seed: int
) -> list[dict[str, Any]]:
    """face64 inpainting in fp32, bf16 autocast, and bf16 autocast + channels_last (the --precision bf16
    mode): invert in full (PSNR against fp32), then mgan, dgp and rrgi for ``speed_steps`` steps."""
    g = prior.generator
    modes = {
        "fp32": ("fp32", False),
        "bf16 autocast": ("bf16", False),
        "bf16 autocast + channels_last (--precision bf16)": ("bf16", True),
    }
    rows = []
    for method in ("invert", *METHODS[1:]):
        count = steps if method == "invert" else speed_steps
        options = {} if method == "invert" else method_options(method, prior)
        base: dict[str, Any] = {}
        for mode, (precision, channels_last) in modes.items():
            started = time.perf_counter()
            with generator_precision(g, precision, channels_last):
                out, seconds = timed_restore(prior, clean, method, count, seed=seed, options=options)
            row = {
                "method": method,
                "mode": mode,
                "images": len(clean),
                "steps": count,
                "s/step": seconds,
                "s/image (whole solve)": (time.perf_counter() - started) / len(clean),
                "psnr (median)": float(out.metrics["psnr"].median()),
            }
            if mode == "fp32":
                base = row | {"psnr": out.metrics["psnr"]}
            else:
                delta = out.metrics["psnr"] - base["psnr"]
                row["step speed-up vs fp32"] = base["s/step"] / seconds
                row["Δpsnr vs fp32 (median)"] = float(delta.median())
                row["max abs Δpsnr"] = float(delta.abs().max())
            rows.append(row)
    return rows


def precision_protocol(count: int, steps: int, speed_steps: int) -> str:
    return (
        f"Protocol: face64, {count} of its own seeded samples, centred-hole inpainting, one batch of {count}, in "
        "one process, the modes one after another on the same images and seed (the machine is shared: compare "
        f"the modes as ratios within this run). invert: its preset (best of 500 starts, Adam) for {steps} steps; "
        f"mgan, dgp, rrgi (cells as in families_speed): {speed_steps} steps, for speed (their PSNR after so few "
        "steps is shown, not a result). s/step: mean of the steps after the first; s/image: the whole solve "
        "(start search included, also under the mode). PSNR (full image, after projection onto the known "
        "pixels) per image; Δ = bf16 − fp32. The final image is rendered in the mode too."
    )


def families_speed_suite(options: BenchOptions) -> list[Table]:
    """Step time and peak memory per image of invert/mgan/dgp/rrgi on 4 families at batch 1 and 4; bf16 on face64."""
    steps = 1 if options.quick else 2
    started = time.perf_counter()
    rows = family_rows(options, steps)
    minutes = (time.perf_counter() - started) / 60
    families = Table(
        FAMILIES_TABLE,
        "Seconds per step and peak memory per image, per GAN family at its published size (random weights)",
        families_protocol(steps, options.device, minutes),
        rows,
        {"threads": torch.get_num_threads()},
    )
    prior = resources().model("face64", options.device)
    count, full, short = (4, 3, 2) if options.quick else (16, 300, 8)
    clean = examples.prior_samples(prior, count, options.seed)
    precision = Table(
        PRECISION_TABLE,
        "bf16 autocast (+ channels_last) against fp32: face64 inpainting at batch 16",
        precision_protocol(count, full, short),
        precision_rows(prior, clean, full, short, options.seed),
        {"threads": torch.get_num_threads()},
    )
    return [families, precision]


def precision_cpu_suite(options: BenchOptions) -> list[Table]:
    """Whether this CPU computes bf16 natively: face64 inversion's step in fp32 and in bf16 autocast."""
    prior = resources().model("face64", options.device)
    count, steps = (2, 3) if options.quick else (16, 10)
    clean = examples.prior_samples(prior, count, options.seed)
    device = torch.device(options.device)
    rows, fp32 = [], 0.0
    for precision in PRECISIONS:
        with generator_precision(prior.generator, precision):
            _, seconds = timed_restore(prior, clean, "invert", steps, seed=options.seed)
        fp32 = fp32 or seconds
        rows.append(
            {
                "precision": precision,
                "device": options.device,
                "CPU capability (ATen)": torch.backends.cpu.get_cpu_capability(),
                "native bf16": native_bf16(device),
                "images": count,
                "steps": steps,
                "s/step": seconds,
                "speed vs fp32": fp32 / seconds,
            }
        )
    protocol = (
        f"face64 inversion (centred-hole inpainting) of {count} of its samples in one batch, {steps} steps "
        "after a first one, fp32 then bf16 autocast + channels_last (`--precision bf16`) in one process "
        "(s/step: the mean of the steps after the first). 'native bf16' is oneDNN's test for AVX512-BF16 or "
        "AMX (`solvers.precision.native_bf16`): without it autocast emulates bf16, and `ganprior restore "
        "--precision bf16` refuses to run. The families-speed suite's precision_face64 table was measured "
        "on a CPU with native bf16."
    )
    title = "bf16 on this CPU: native or emulated"
    return [Table(PRECISION_CPU_TABLE, title, protocol, rows, {"threads": torch.get_num_threads()})]


SUITES = [
    Suite("families-speed", families_speed_suite, (FAMILIES_TABLE, PRECISION_TABLE)),
    Suite("precision-cpu", precision_cpu_suite, (PRECISION_CPU_TABLE,)),
]

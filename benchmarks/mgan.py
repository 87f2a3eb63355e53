"""Suites ``mgan-layers``, ``mgan``, ``mgan-edit`` and ``mgan-long``: mGANprior's layer-wise analysis and its
restoration rows next to plain inversion.

Tables (``benchmarks/results/mgan_*``) and a plot:
- ``mgan_layers_MODEL`` + ``mgan_layers_MODEL.png``: reconstruction PSNR of held-out real images as
  a function of the composition stage ℓ and of the number of codes N (1, 5, 10, 20, 30), with plain
  single-code inversion at the same steps, and the paper's claim (N = 20 beats it by >= 4 dB) checked;
- ``mgan_optimizer``: the reference's plain SGD (lr 1) against Adam;
- ``mgan_restoration_MODEL``: inpainting, colorization, SR and denoising, mGANprior next to inversion;
- ``mgan_semantic_edit`` (suite ``mgan-edit``): how often an attribute direction changes its attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from torch import Tensor

from ganprior import examples
from ganprior.checkpoint import Prior
from ganprior.classifier import bundled_classifiers, load_classifier
from ganprior.files import atomic_write
from ganprior.metrics import median, psnr
from ganprior.physics import Operator
from ganprior.semantic import edit_attribute, reconstruct, resolve_attribute
from ganprior.solvers import InvertConfig, invert
from ganprior.solvers.mgan import MGANConfig, mgan

from .common import BenchOptions, Suite, Table, resources, restoration_rows
from .dgp import PLAN, in_zoo, test_images

CODES = (1, 5, 10, 20, 30)
CLAIM_DB = 4.0
CLAIM_CODES = 20  # the paper's N; a quick run, which tries fewer codes, checks its largest N instead
RECONSTRUCTION = (
    "Reconstruction of clean held-out real images (no degradation): PSNR on [0, 1] intensities of the raw "
    "generator output against the image, median over the images. mGANprior: Adam lr 0.05, code 0 from the "
    "best of 500 prior samples (plain inversion's start), the other codes N(0, I), α = 1/N (the reference's "
    "start), pixel MSE + 1e-3 latent prior, no perceptual term; plain inversion: the same loss, start and "
    "optimiser with one code. Both run the same number of steps. Timings come from a CPU shared with other "
    "jobs (contended): compare within one table only."
)


def _models(
    options: BenchOptions, names: Sequence[str] = tuple(PLAN), count: int | None = 6
) -> list[tuple[Prior, str, Tensor]]:
    """The zoo models among ``names`` with ``count`` held-out real test images (None: as many as the
    DGP benchmark uses, so that the rows stand next to its rows): (prior, data name, images)."""
    out = []
    for name in in_zoo(names):
        n = 2 if options.quick else count or PLAN[name][0]
        data, images = test_images(name, n, options.seed)
        out.append((resources().model(name, options.device), data, images.to(options.device)))
    return out


def reconstruct_psnr(prior: Prior, clean: Tensor, config: MGANConfig | InvertConfig) -> tuple[float, float]:
    """(median PSNR in dB, seconds per image) of reconstructing ``clean`` with mGANprior or inversion."""
    g = prior.generator
    started = time.perf_counter()
    if isinstance(config, MGANConfig):
        result = mgan(g, clean, Operator(), config)
    else:
        result = invert(g, clean, Operator(), config)
    seconds = (time.perf_counter() - started) / len(clean)
    return median(psnr(result.image, clean)), seconds


def layer_rows(
    prior: Prior, data: str, clean: Tensor, steps: int, seed: int, codes: Sequence[int] = CODES
) -> list[dict[str, Any]]:
    """PSNR of inversion, then of mGANprior for every composition stage ℓ × number of codes N."""
    base = {"model": prior.name, "data": data, "images": len(clean), "steps": steps}
    single, seconds = reconstruct_psnr(prior, clean, InvertConfig(steps=steps, seed=seed))
    rows = [
        base
        | {"method": "invert (single code)", "ℓ": "", "N": 1, "psnr (median)": single, "s/image": seconds}
    ]
    for layer in range(1, prior.generator.num_stages):
        for n in codes:
            value, seconds = reconstruct_psnr(
                prior, clean, MGANConfig(steps=steps, codes=n, layer=layer, seed=seed)
            )
            rows.append(
                base
                | {"method": "mgan", "ℓ": layer, "N": n, "psnr (median)": value, "s/image": seconds}
                | {"Δ vs invert (dB)": value - single}
            )
            print(f"{prior.name} ℓ={layer} N={n}: {value:.2f} dB", flush=True)
    return rows


def claim_rows(rows: Sequence[dict[str, Any]], codes: int = CLAIM_CODES) -> list[dict[str, Any]]:
    """The paper's claim per ℓ: N = ``codes`` beats single-code inversion by >= 4 dB at the same steps."""
    single = next(r for r in rows if r["method"].startswith("invert"))
    out = []
    for r in rows:
        if r["method"] == "mgan" and r["N"] == codes:
            delta = r["psnr (median)"] - single["psnr (median)"]
            out.append(
                {
                    "model": r["model"],
                    "ℓ": r["ℓ"],
                    "invert": single["psnr (median)"],
                    f"mgan N={codes}": r["psnr (median)"],
                }
                | {"Δ (dB)": delta, f">= {CLAIM_DB:g} dB": "yes" if delta >= CLAIM_DB else "no"}
            )
    return out


def line_plot(series: dict[str, list[tuple[float, float]]], baseline: float, path: Path, title: str) -> Path:
    """PSNR (y) against N (x), one line per series, the baseline dashed; drawn with PIL (no matplotlib)."""
    width, height, margin = 640, 420, 60
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points] + [baseline]
    x0, x1 = min(xs), max(xs)
    y0, y1 = int(min(ys)) - 1, int(max(ys)) + 2
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)

    def at(x: float, y: float) -> tuple[float, float]:
        px = margin + (x - x0) / max(x1 - x0, 1e-9) * (width - 2 * margin)
        return px, height - margin - (y - y0) / (y1 - y0) * (height - 2 * margin)

    draw.rectangle([margin, margin, width - margin, height - margin], outline="black")
    for y in range(y0, y1 + 1, max(1, (y1 - y0) // 8)):
        draw.line([at(x0, y), (at(x0, y)[0] - 5, at(x0, y)[1])], fill="black")
        draw.text((margin - 30, at(x0, y)[1] - 6), f"{y}", fill="black")
    for x in sorted(set(xs)):
        draw.text((at(x, y0)[0] - 6, height - margin + 6), f"{x:g}", fill="black")
    draw.text((width // 2 - 60, height - margin + 24), "number of codes N", fill="black")
    draw.text((8, margin - 20), "PSNR (dB)", fill="black")
    draw.text((margin, 12), title, fill="black")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (label, points) in enumerate(series.items()):
        color = palette[i % len(palette)]
        draw.line([at(x, y) for x, y in points], fill=color, width=2)
        for x, y in points:
            cx, cy = at(x, y)
            draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=color)
        draw.text((width - margin + 4, at(*points[-1])[1] - 6), label, fill=color)
    left, right = at(x0, baseline), at(x1, baseline)
    for start in range(int(left[0]), int(right[0]), 12):
        draw.line([(start, left[1]), (min(start + 6, right[0]), left[1])], fill="gray", width=2)
    draw.text((margin + 4, left[1] + 4), "plain inversion (one code, no alpha)", fill="gray")
    with atomic_write(path) as part:
        canvas.save(part, format="PNG")
    return path


def layers_suite(options: BenchOptions, names: Sequence[str] = tuple(PLAN)) -> list[Table]:
    """mGANprior's layer-wise analysis: fit quality per composition layer and number of codes, on held-out real images."""
    steps = 20 if options.quick else 150
    tables = []
    codes = (1, 5) if options.quick else CODES
    claim = CLAIM_CODES if CLAIM_CODES in codes else max(codes)
    for prior, data, images in _models(options, names):
        rows = layer_rows(prior, data, images, steps, options.seed, codes)
        name = f"mgan_layers_{prior.name}"
        series = {
            f"layer {layer}": [(r["N"], r["psnr (median)"]) for r in rows if r["ℓ"] == layer]
            for layer in range(1, prior.generator.num_stages)
        }
        line_plot(
            series, rows[0]["psnr (median)"], options.out / f"{name}.png", f"mGANprior, {prior.name}, {data}"
        )
        protocol = RECONSTRUCTION + (
            f" ℓ = number of generator stages run per code before the fusion ({prior.name} has "
            f"{prior.generator.num_stages} stages). Plot: {name}.png."
        )
        tables.append(Table(name, f"mGANprior layer-wise analysis ({prior.name}, {data})", protocol, rows))
        tables.append(
            Table(
                f"mgan_claim_{prior.name}",
                f"The paper's claim on {prior.name}: N = {claim} vs single-code inversion at {steps} steps",
                RECONSTRUCTION,
                claim_rows(rows, claim),
            )
        )
    return tables


def optimizer_table(prior: Prior, data: str, clean: Tensor, options: BenchOptions) -> Table:
    """The reference's SGD (lr 1) against Adam (N = 20, ℓ = 1), next to plain inversion at the same and
    at four times the steps."""
    steps = 20 if options.quick else 150
    base = {"model": prior.name, "data": data, "images": len(clean)}
    rows = []
    for n_steps in (steps, 4 * steps):
        value, seconds = reconstruct_psnr(prior, clean, InvertConfig(steps=n_steps, seed=options.seed))
        rows.append(
            base
            | {"method": "invert", "optimizer": "adam", "lr": InvertConfig.lr, "steps": n_steps}
            | {"psnr (median)": value, "s/image": seconds}
        )
    for optimizer, lr in (("sgd", 1.0), ("sgd", 10.0), ("adam", 0.05)):
        config = MGANConfig(steps=steps, codes=20, layer=1, optimizer=optimizer, lr=lr, seed=options.seed)
        value, seconds = reconstruct_psnr(prior, clean, config)
        rows.append(
            base
            | {"method": "mgan N=20 ℓ=1", "optimizer": optimizer, "lr": lr, "steps": steps}
            | {"psnr (median)": value, "s/image": seconds}
        )
    return Table(
        f"mgan_optimizer_{prior.name}",
        f"mGANprior optimiser: the reference's SGD vs Adam, and inversion with more steps ({prior.name}, {data})",
        RECONSTRUCTION + " SGD lr 1 is the reference's setting; lr 10 compensates for our smaller images.",
        rows,
    )


def _colour_images(prior: Prior, data: str, images: Tensor) -> tuple[str, Tensor] | None:
    """Colour test images for colorization: face64's LFW set is gray, so it gets the two colour photos."""
    if prior.generator.channels != 3:
        return None
    if prior.name == "face64":
        faces = [img for _, img in resources().color_faces()]
        return "colour photos (astronaut, Grace Hopper)", examples.fit_to_prior(faces, prior).to(
            images.device
        )
    return data, images


def mgan_suite(options: BenchOptions) -> list[Table]:
    """Restoration rows (mGANprior next to inversion) and the optimiser comparison."""
    steps = 20 if options.quick else None
    tables = []
    for prior, data, images in _models(options, count=None):
        tasks = ["inpaint", "sr", "denoise"]
        rows = restoration_rows(prior, data, images, tasks, ["invert", "mgan"], steps, options.seed)
        colour = _colour_images(prior, data, images)
        if colour is not None:
            rows += restoration_rows(
                prior, colour[0], colour[1], ["colorize"], ["invert", "mgan"], steps, options.seed
            )
        tables.append(
            Table(
                f"mgan_restoration_{prior.name}",
                f"mGANprior vs plain inversion on held-out real images ({prior.name})",
                "Each clean image is degraded by the task's seeded simulation (inpaint: centred hole of 1/3 the side; sr: "
                "×4 antialiased bicubic; colorize: ITU-R 601 luma; denoise: σ = 0.1), restored, projected onto the "
                "observation (known pixels / luminance kept) and compared with the clean image on [0, 1] intensities; "
                "median over the images; psnr_hole on the hole only. Inversion: 600 Adam steps. mGANprior: the task "
                "presets of solvers/mgan.py (TASK_PRESETS). Contended CPU timings.",
                rows,
            )
        )
        tables.append(optimizer_table(prior, data, images, options))
    return tables


def edit_rows(
    prior: Prior, data: str, images: Tensor, attributes: Sequence[str], options: BenchOptions
) -> list[dict[str, Any]]:
    """Change rate of every attribute's direction on mGANprior reconstructions of ``images``."""
    strengths = (-3.0, 0.0, 3.0)
    steps = 20 if options.quick else None
    classifier = load_classifier(prior.name) if prior.name in bundled_classifiers() else None
    rows = []
    rec = reconstruct(prior, images, steps, options.seed)
    for name in attributes:
        attribute = resolve_attribute(name, prior, classifier)
        edit = edit_attribute(prior, rec, attribute, strengths, 200 if options.quick else 2000, options.seed)
        rows.append(
            {"model": prior.name, "data": data, "images": len(images), "attribute": name}
            | {"direction accuracy": edit.direction.accuracy, "change rate": edit.rate}
            | {f"score at {t:+g} (median)": median(edit.scores[:, i]) for i, t in enumerate(strengths)}
            | (_class_flips(edit.scores[:, 1], edit.scores[:, 2]) if name.startswith("class:") else {})
        )
    return rows


def _class_flips(before: Tensor, after: Tensor) -> dict[str, Any]:
    """Images the classifier did not give class K (probability <= 0.5) at strength 0, and the share of
    them it does give K after the +3 step."""
    candidates = before <= 0.5
    flipped = (after[candidates] > 0.5).float().mean().item() if candidates.any() else float("nan")
    return {"not K at 0": int(candidates.sum()), "become K at +3": flipped}


def edit_suite(options: BenchOptions) -> list[Table]:
    """How often ``ganprior edit direction`` moves the targeted attribute the intended way."""
    rows = []
    for prior, data, images in _models(options, count=8):
        attributes = ["brightness", "contrast", "size"]
        if prior.name in bundled_classifiers():
            names = prior.card.get("classes") or []
            attributes += [f"class:{c}" for c in range(min(3, len(names)))]
        rows += edit_rows(prior, data, images, attributes, options)
    return [
        Table(
            "mgan_semantic_edit",
            "Semantic editing: attribute directions applied to mGANprior reconstructions of held-out real images",
            "Direction: logistic-regression normal separating the top and bottom 30% of 2000 prior samples by the "
            "attribute (brightness = mean luma, contrast = luma std, size = share of pixels away from the border's "
            "luma, class:K = the model's shipped classifier's probability of class K); accuracy on a held-out 20%. "
            "Each image is inverted with mGANprior (the edit preset: 400 Adam steps, 30 codes, ℓ = 4th stage from "
            "the output), every code is moved by -3, 0, +3 along the unit normal, and the attribute is measured "
            "on the renderings. Change rate = share of (image, ±3) pairs whose score moved from the 0 rendering "
            "in the step's direction; for class:K also the share of images not classified K at 0 (p <= 0.5) that "
            "are at +3. A class-conditional generator (fashion32) takes its class through the label: its "
            "direction spans [z, class vector] and both move.",
            rows,
        )
    ]


def long_steps(options: BenchOptions) -> int:
    return 20 if options.quick else 600


def long_name(options: BenchOptions, names: Sequence[str]) -> str:
    return f"mgan_claim_{long_steps(options)}_steps" + "".join(f"_{n}" for n in names if len(names) == 1)


def long_suite(options: BenchOptions, names: Sequence[str] = tuple(PLAN)) -> list[Table]:
    """The paper's claim at inversion's full 600 steps: N = 20 (ℓ = 2) against single-code inversion."""
    steps = long_steps(options)
    rows = []
    for prior, data, images in _models(options, names):
        single, single_s = reconstruct_psnr(prior, images, InvertConfig(steps=steps, seed=options.seed))
        config = MGANConfig(steps=steps, codes=20, layer=2, seed=options.seed)
        multi, multi_s = reconstruct_psnr(prior, images, config)
        rows.append(
            {"model": prior.name, "data": data, "images": len(images), "steps": steps, "invert": single}
            | {"mgan N=20 ℓ=2": multi, "Δ (dB)": multi - single}
            | {f">= {CLAIM_DB:g} dB": "yes" if multi - single >= CLAIM_DB else "no"}
            | {"invert s/image": single_s, "mgan s/image": multi_s}
        )
    return [
        Table(
            long_name(options, names),
            f"The paper's claim at {steps} steps: mGANprior N = 20 vs single-code inversion",
            RECONSTRUCTION,
            rows,
        )
    ]


def _one_model(suite: Callable[..., list[Table]], name: str) -> Callable[[BenchOptions], list[Table]]:
    def run(options: BenchOptions) -> list[Table]:
        return suite(options, (name,))

    run.__doc__ = f"{(suite.__doc__ or '').strip().splitlines()[0]} ({name} only)"
    return run


def layers_names(names: Sequence[str] = tuple(PLAN)) -> list[str]:
    return [f"mgan_{kind}_{name}" for name in in_zoo(names) for kind in ("layers", "claim")]


def restoration_names() -> list[str]:
    return [f"mgan_{kind}_{name}" for name in in_zoo() for kind in ("restoration", "optimizer")]


SUITES = [
    Suite("mgan-layers", layers_suite, lambda o: layers_names()),
    Suite("mgan", mgan_suite, lambda o: restoration_names()),
    Suite("mgan-edit", edit_suite, ("mgan_semantic_edit",)),
    Suite("mgan-long", long_suite, lambda o: [long_name(o, PLAN)]),
]
SUITES += [
    Suite(f"mgan-layers-{name}", _one_model(layers_suite, name), lambda o, n=name: layers_names([n]))
    for name in PLAN
]
SUITES += [
    Suite(f"mgan-long-{name}", _one_model(long_suite, name), lambda o, n=name: [long_name(o, [n])])
    for name in PLAN
]

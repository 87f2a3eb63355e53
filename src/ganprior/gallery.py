"""The demo gallery (``make demo``): real photographs and a few of the model's own samples restored by
plain inversion and by the methods that relax it (mGANprior, DGP) for every task, side by side; then
mask-free inpainting (RGI) and pixel-wise anomaly detection (R-RGI on a texture prior). One picture per
part, per-image PSNR and the medians over the real photographs in ``index.md`` and ``metrics.json``.

The steps are chosen so that the whole demo takes a few minutes on 2 CPU cores (``DEMO_STEPS``):
mGANprior and DGP run well short of their presets, so the gallery understates them; the benchmark
tables (``benchmarks/results``) give the full-length numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from . import examples, zoo
from .anomaly import detect, dice_iou
from .checkpoint import Prior
from .files import write_whole
from .imageio import as_rgb, grid, save_image, upscale_to
from .metrics import median
from .physics import TASK_HELP, stroke_corruption
from .pipeline import restore
from .report import heat_overlay, write_json
from .solvers import Callback
from .texture_crops import defective_crops

DEMO_METHODS = ("invert", "mgan", "dgp")
DEMO_TASKS = ("inpaint", "sr", "colorize", "denoise", "hybrid")
DEMO_STEPS: dict[str, int | None] = {"invert": None, "mgan": 150, "dgp": 100, "rgi": 400}
"""None: the method's preset. mGANprior's presets run 300-600 steps with 20-30 codes and DGP's
300-420 iterations; these shorter runs keep ``make demo`` to a few minutes on 2 CPU cores."""
ANOMALY_MODEL = "brick32"

Progress = Callable[[str], Callback]


def demo_images(prior: Prior, generated: int = 2, seed: int = 0) -> tuple[list[str], Tensor, int]:
    """Names, images (N, C, H, W) and how many are real photographs (they come first): the colour
    and LFW face photographs for face models, then ``generated`` seeded samples of the prior."""
    named = examples.color_faces() + examples.lfw_faces(2) if "face" in prior.name else []
    real = examples.fit_to_prior([image for _, image in named], prior) if named else None
    count = generated if named else max(generated, 4)
    samples = examples.prior_samples(prior, count, seed)
    names = [name for name, _ in named] + [f"sample{i}" for i in range(count)]
    images = samples if real is None else torch.cat([real, samples])
    return names, images, len(named)


def build_gallery(
    prior: Prior,
    out: Path,
    methods: Sequence[str] = DEMO_METHODS,
    steps: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Write ``TASK.png`` for each task (rows: observation, each method's restoration, clean), then
    ``mask-free.png`` and ``anomaly.png``, ``index.md`` and ``metrics.json``. Returns the medians
    {part: {row: {metric: value}}}, over the real photographs when there are any. ``steps``
    overrides ``DEMO_STEPS`` for every method."""
    names, clean, real = demo_images(prior, seed=seed)
    clean = clean.to(next(prior.generator.parameters()).device)
    scored = slice(0, real or len(clean))
    tasks = [t for t in DEMO_TASKS if t != "colorize" or prior.generator.channels == 3]
    summary: dict[str, dict[str, dict[str, float]]] = {}
    per_image: dict[str, dict[str, list[float]]] = {}
    for task in tasks:
        rows, summary[task], per_image[task] = [], {}, {}
        for method in methods:
            result = restore(
                prior,
                clean,
                task,
                method,
                simulate=True,
                steps=steps or DEMO_STEPS.get(method),
                seed=seed,
                batch_size=len(clean),
                callback=_batch_callback(progress, f"{task} {method}"),
            )
            if not rows:
                rows.append(_shown(result.observation, clean))
            rows.append(result.restored)
            summary[task][method] = {k: median(v[scored]) for k, v in result.metrics.items()}
            per_image[task][method] = result.metrics["psnr"].tolist()
        save_image(grid(torch.cat([*rows, clean]).cpu(), columns=len(clean)), out / f"{task}.png")
    if real:
        summary["mask-free"] = _mask_free(prior, clean[:real], steps, seed, out, progress)
    summary["anomaly"] = _anomaly(steps, seed, out, progress, next(prior.generator.parameters()).device)
    write_json(
        {
            "model": prior.card,
            "methods": list(methods),
            "steps": {m: steps or DEMO_STEPS.get(m) for m in [*methods, "rgi"]},
            "images": names,
            "real_photographs": real,
            "median_metrics": summary,
            "psnr_per_image": per_image,
        },
        out / "metrics.json",
    )
    _write_index(out, prior, list(methods), names, real, summary, per_image, steps)
    return summary


def _batch_callback(progress: Progress | None, label: str) -> Callable[[int, int], Callback] | None:
    return (lambda _b, _n: progress(label)) if progress else None


def _shown(observation: Tensor, clean: Tensor) -> Tensor:
    """Observations enlarged and given the clean images' channels, for the grid."""
    shown = upscale_to(observation, clean.shape[-1])
    return shown.expand(-1, clean.shape[1], -1, -1) if shown.shape[1] != clean.shape[1] else shown


def _mask_free(
    prior: Prior, clean: Tensor, steps: int | None, seed: int, out: Path, progress: Progress | None
) -> dict[str, dict[str, float]]:
    """RGI on the real photographs with seeded strokes replaced by −1 + N(0, 1), told nothing about
    where: rows observation, detected mask, restoration, clean (``mask-free.png``)."""
    masks, observed = stroke_corruption(clean, seed)
    result = restore(
        prior,
        observed,
        "inpaint",
        "rgi",
        reference=clean,
        steps=steps or DEMO_STEPS["rgi"],
        seed=seed,
        batch_size=len(clean),
        callback=_batch_callback(progress, "mask-free rgi"),
        options={"closing": 3},
    )
    detected = result.result.mask
    rows = [observed, (1 - 2 * detected).expand_as(clean), result.restored, clean]
    save_image(grid(torch.cat(rows).cpu(), columns=len(clean)), out / "mask-free.png")
    scores = {k: median(v) for k, v in result.metrics.items()}
    scores["mask IoU"] = median(dice_iou(detected, 1 - masks)[1])
    return {"rgi": scores}


def _anomaly(
    steps: int | None, seed: int, out: Path, progress: Progress | None, device: torch.device
) -> dict[str, dict[str, float]]:
    """R-RGI with the texture prior ``ANOMALY_MODEL`` on held-out crops, four with a synthetic defect
    and two without: rows image, anomaly overlay, detected mask, true defect (``anomaly.png``)."""
    texture = zoo.load(ANOMALY_MODEL, device)
    images, truth = defective_crops("brick", "test", texture.generator.resolution, 4, 2, seed)
    if progress:
        progress("anomaly rrgi")
    found = detect(texture, images.to(device), "rrgi", steps=steps, seed=seed)
    threshold = texture.card["calibration"]["rrgi"]["threshold"]
    overlays = torch.stack(
        [heat_overlay(i, m, threshold) for i, m in zip(images, found.maps.cpu(), strict=True)]
    )
    rows = [as_rgb(images), overlays, as_rgb(found.masks.cpu() * 2 - 1), as_rgb(truth * 2 - 1)]
    save_image(grid(torch.cat(rows), columns=len(images), rgb=True), out / "anomaly.png", scale=2)
    _, iou = dice_iou(found.masks[:4].cpu(), truth[:4])
    return {"rrgi": {"defect IoU": median(iou), "flagged on normal crops": float(found.masks[4:].mean())}}


def _write_index(
    out: Path,
    prior: Prior,
    methods: list[str],
    names: list[str],
    real: int,
    summary: dict[str, dict[str, dict[str, float]]],
    per_image: dict[str, dict[str, list[float]]],
    steps: int | None,
) -> None:
    budget = ", ".join(f"{m} {steps or DEMO_STEPS.get(m) or 'its preset'}" for m in methods)
    scope = f"the {real} real photographs" if real else "the images"
    lines = [
        f"# ganprior demo: {prior.name}",
        "",
        f"Columns: {', '.join(names)}. Rows: the observation (degraded, enlarged), then each method's "
        f"restoration ({', '.join(methods)}), then the clean image. Steps: {budget} (short runs so the demo "
        "takes a few minutes on a CPU; the benchmark tables give the full presets). Each clean image was "
        f"degraded by the task's seeded simulation first; the medians are over {scope} (PSNR in dB on "
        "[0, 1] intensities).",
        "",
    ]
    for task, rows in per_image.items():
        lines += [f"## {task}: {TASK_HELP[task]}", "", f"![{task}]({task}.png)", ""]
        lines += ["| method | " + " | ".join(names) + " | median |", "|---" * (len(names) + 2) + "|"]
        for method, values in rows.items():
            cells = " | ".join(f"{v:.2f}" for v in values)
            lines.append(f"| {method} | {cells} | {summary[task][method]['psnr']:.2f} |")
        lines.append("")
    if "mask-free" in summary:
        s = summary["mask-free"]["rgi"]
        lines += [
            "## mask-free inpainting (RGI, not told where)",
            "",
            "Rows: corrupted photo (strokes replaced by noise), the mask RGI found, its restoration, clean.",
            "",
            "![mask-free](mask-free.png)",
            "",
            f"median PSNR {s['psnr']:.2f} dB, detected-mask IoU {s['mask IoU']:.2f}",
            "",
        ]
    a = summary["anomaly"]["rrgi"]
    lines += [
        f"## anomaly detection (R-RGI, {ANOMALY_MODEL} trained on normal crops only)",
        "",
        "Rows: held-out crops (four with a synthetic defect, two without), the anomaly map over the crop, "
        "the mask at the calibrated threshold, the true defect.",
        "",
        "![anomaly](anomaly.png)",
        "",
        f"median defect IoU {a['defect IoU']:.2f}; {100 * a['flagged on normal crops']:.2f}% of normal pixels flagged",
        "",
    ]
    write_whole(out / "index.md", "\n".join(lines))

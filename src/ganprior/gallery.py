"""The demo gallery: restore a fixed set of real and generated images for every task and write one
picture per task plus a markdown index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from . import examples
from .checkpoint import Prior
from .imageio import grid, save_image, upscale_to
from .metrics import median
from .physics import RESTORATION_TASKS, TASK_HELP
from .pipeline import restore
from .report import write_json
from .solvers import Callback


def demo_images(prior: Prior, generated: int = 4, seed: int = 0) -> tuple[list[str], Tensor]:
    """Names and images (N, C, H, W): real face photographs for face models, then seeded samples."""
    named = examples.color_faces() + examples.lfw_faces(2) if "face" in prior.name else []
    real = examples.fit_to_prior([image for _, image in named], prior) if named else None
    samples = examples.prior_samples(prior, generated, seed)
    names = [name for name, _ in named] + [f"sample{i}" for i in range(generated)]
    return names, samples if real is None else torch.cat([real, samples])


def build_gallery(
    prior: Prior,
    out: Path,
    method: str = "invert",
    steps: int | None = None,
    seed: int = 0,
    progress: Callable[[str], Callback] | None = None,
) -> dict[str, dict[str, float]]:
    """Write ``TASK.png`` (rows: observations, restorations, clean images) for each task, ``index.md`` and
    ``metrics.json``; returns the median metrics per task."""
    names, clean = demo_images(prior, seed=seed)
    clean = clean.to(next(prior.generator.parameters()).device)
    tasks = [t for t in RESTORATION_TASKS if t != "colorize" or prior.generator.channels == 3]
    summary: dict[str, dict[str, float]] = {}
    for task in tasks:
        callback = (lambda _b, _n, task=task: progress(task)) if progress else None
        result = restore(
            prior,
            clean,
            task,
            method,
            simulate=True,
            steps=steps,
            seed=seed,
            batch_size=len(clean),
            callback=callback,
        )
        side = prior.generator.resolution
        shown = upscale_to(result.observation, side)
        if shown.shape[1] != clean.shape[1]:
            shown = shown.expand(-1, clean.shape[1], -1, -1)
        rows = torch.cat([shown, result.restored, clean])
        save_image(grid(rows.cpu(), columns=len(clean)), out / f"{task}.png")
        summary[task] = {k: median(v) for k, v in result.metrics.items()}
    write_json(
        {"model": prior.card, "method": method, "images": names, "median_metrics": summary},
        out / "metrics.json",
    )
    _write_index(out, prior, method, names, summary)
    return summary


def _write_index(
    out: Path, prior: Prior, method: str, names: list[str], summary: dict[str, dict[str, float]]
) -> None:
    lines = [
        f"# ganprior demo: {prior.name}, method {method}",
        "",
        f"Images (columns): {', '.join(names)}. Rows: observation (degraded, enlarged), restored, clean.",
        "Each clean image was degraded by the task's seeded simulation first; metrics are medians over the rows "
        "(PSNR in dB on [0, 1] intensities; hole-only for inpainting).",
        "",
    ]
    for task, scores in summary.items():
        numbers = ", ".join(f"{k} {v:.2f}" for k, v in scores.items())
        lines += [f"## {task}: {TASK_HELP[task]}", "", numbers, "", f"![{task}]({task}.png)", ""]
    (out / "index.md").write_text("\n".join(lines))

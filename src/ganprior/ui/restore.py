"""The Restore tab: one photo, a mask drawn on it (or uploaded), one method and optionally others to
compare, restored as ``ganprior restore`` does it (``pipeline.restore``, the result put back at the
photo's size by ``paste.in_frame``, the files of ``outputs.write_outputs``); and the time a run
takes, measured by a short probe.

``prepare`` does everything that can fail on a bad upload or setting, in the request: the page
gets the CLI's one-line message and HTTP 400, and the job only runs what is known to start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Prior
from ..commands.common import integer, number, seed_type, steps_type
from ..errors import GanpriorError
from ..imageio import FITS, MASK_FILLS, save_image
from ..outputs import write_outputs
from ..paste import in_frame
from ..physics import TASKS
from ..pipeline import drawn_mask, load_observations, observation_size, resolve_config, restore
from ..report import heat_overlay
from ..solvers import METHODS
from . import uploads
from .jobs import Job
from .params import Models, Params

PROBE_STEPS = 5
"""Steps of the probe that times a method (``estimate``): enough for a per-step pace."""


def prepare(body: Any, job: Job, models: Models) -> Callable[[Job], dict[str, Any]]:
    """Check the request and write its uploads into the job's folder; returns the work."""
    params = Params(body)
    model = params.raw("model", models.default)
    task = params.choice("task", [t for t in TASKS if t != "reconstruct"], "inpaint")
    methods = [params.choice("method", list(METHODS), "invert")]
    compare = params.raw("compare", [])
    if not isinstance(compare, list) or any(m not in METHODS for m in compare):
        raise GanpriorError(f"compare must list methods of: {', '.join(METHODS)}")
    methods += [m for m in dict.fromkeys(compare) if m != methods[0]]
    steps = params.value("steps", steps_type, None)
    seed = params.value("seed", seed_type, 0)
    factor = params.value("factor", integer(1), 4)
    sigma = params.value("sigma", number(0, 1), 0.1)
    fit = params.choice("fit", FITS, "crop")
    fill = params.choice("mask_fill", MASK_FILLS, "black")
    photo = uploads.save(params.raw("photo"), job.folder / "input", "photo")
    prior = models.load(model)
    g = prior.generator
    configs = {m: resolve_config(prior, task, m, steps, seed) for m in methods}
    drawn, mask_file = None, None
    if params.raw("mask") is not None:
        mask_file = uploads.save(params.raw("mask"), job.folder / "mask", "mask")
        drawn = drawn_mask(mask_file, [photo], g.resolution, task, fill, fit)
    images = load_observations(
        [photo], prior, task, None if drawn is None else drawn.known, factor, sigma, fit
    )
    settings = {"model": model, "task": task, "factor": factor, "sigma": sigma, "fit": fit, "seed": seed}
    notes = [w.replace("--mask-fill", "mask fill") for w in drawn.warnings()] if drawn else []
    if drawn is None and task in {"inpaint", "hybrid"} and not all(METHODS[m].mask_free for m in methods):
        notes.append("no hole drawn: the methods that need a mask fill a centred square of 1/3 the side")
    out = job.folder / "out"
    out.mkdir()

    def work(job: Job) -> dict[str, Any]:
        results, size = [], None
        for method, config in configs.items():
            job.stage(method, config.total_steps())
            mask_free = METHODS[method].mask_free
            started = time.perf_counter()
            part = restore(
                prior,
                images,
                task,
                method,
                mask=None if drawn is None or mask_free else drawn.known,
                factor=factor,
                sigma=sigma,
                batch_size=1,
                callback=lambda index, count: job.watcher(),
                config=config,
            )
            seconds = time.perf_counter() - started
            known = None if drawn is None or mask_free else drawn.known_at_photo_size
            framed = in_frame(photo, part, 0, task, fit, factor, known)
            size = framed[1]["size"]
            stem = f"{photo.stem}_{method}"
            mask_info = None if drawn is None or mask_free else {"file": mask_file.name, **drawn.describe()}
            run_settings = settings | {"method": method, "steps": config.steps}
            names = write_outputs(
                out, Path(photo.name), stem, part, 0, prior, run_settings, mask_info, None, seconds, framed
            )
            urls = {name: job.offer(out / name) for name in names}
            entry = {
                "method": method,
                "steps": config.steps,
                "seconds": round(seconds, 2),
                "restored": urls[f"{stem}_restored.png"],
                "compare": urls[f"{stem}_compare.png"],
                "report": urls[f"{stem}.json"],
                "detected": None,
            }
            if part.result.mask is not None:  # mask-free: the pixels it found, in red over the input
                found = part.result.mask[0].float().amax(0, keepdim=True).cpu()
                overlay = heat_overlay(part.observation[0].cpu(), found, 0.5)
                entry["detected"] = job.offer(save_image(overlay, out / f"{stem}_detected.png"))
            results.append(entry)
        return {"size": size, "results": results, "notes": notes}

    return work


def prepare_estimate(body: Any, job: Job, models: Models) -> Callable[[Job], dict[str, Any]]:
    """The preset's steps now, and a job that times a short run of the method on this machine."""
    params = Params(body)
    task = params.choice("task", [t for t in TASKS if t != "reconstruct"], "inpaint")
    method = params.choice("method", list(METHODS), "invert")
    factor = params.value("factor", integer(1), 4)
    prior = models.load(params.raw("model", models.default))
    preset = resolve_config(prior, task, method).total_steps()
    channels, side = observation_size(prior, task, factor=factor)
    blank = torch.zeros(1, channels, side, side)

    def work(job: Job) -> dict[str, Any]:
        job.stage(f"timing {method}", PROBE_STEPS)
        fixed, per_step = probe(prior, blank, task, method, factor, job)
        return {
            "preset_steps": preset,
            "fixed_seconds": round(fixed, 3),
            "seconds_per_step": round(per_step, 4),
        }

    return work


def probe(
    prior: Prior, observation: torch.Tensor, task: str, method: str, factor: int, job: Job
) -> tuple[float, float]:
    """(seconds outside the steps, seconds per step) of ``method`` for ``task`` on one observation
    (1, C', H', W'): a run of ``PROBE_STEPS`` steps, timed step by step (each advances ``job``).
    A run of S steps then takes about fixed + S · per_step."""
    times: list[float] = []

    def stamp(step: int, losses: torch.Tensor) -> None:
        times.append(time.perf_counter())
        job.advance()

    started = time.perf_counter()
    restore(
        prior,
        observation,
        task,
        method,
        factor=factor,
        steps=PROBE_STEPS,
        batch_size=1,
        callback=lambda i, n: stamp,
    )
    total = time.perf_counter() - started
    per_step = (times[-1] - times[0]) / max(1, len(times) - 1)
    return max(0.0, total - per_step * len(times)), per_step

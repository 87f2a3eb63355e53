"""The Edit tab: as ``ganprior edit`` does it, the uploads are fitted once (DGP's manipulation
schedule; mGANprior for attribute directions) and every frame a slider can show is rendered in the
job, so that the page moves through them without asking again: jitter at σ = 0.1 … 1, the morph's
frames, every class (category transfer), strengths −3 … 3 along an attribute direction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import edit, semantic
from ..classifier import bundled_classifiers, model_classifier
from ..commands.common import integer, seed_type, steps_type
from ..errors import GanpriorError
from ..imageio import load_images, save_gif
from ..metrics import psnr
from . import uploads
from .jobs import Job
from .params import Models, Params

ACTIONS = ("jitter", "morph", "transfer", "direction")
SIGMAS = tuple(round(0.1 * k, 1) for k in range(1, 11))
STRENGTHS = tuple(0.5 * k for k in range(-6, 7))


def attributes(card: dict[str, Any]) -> list[str]:
    """The attributes a model can be edited along: the measures, and ``class:NAME`` for every class
    of a model with a shipped classifier."""
    names = list(semantic.MEASURES)
    if card["name"] in bundled_classifiers():
        names += [f"class:{c}" for c in card.get("classes") or []]
    return names


def prepare(body: Any, job: Job, models: Models) -> Callable[[Job], dict[str, Any]]:
    """Check the request and write its images into the job's folder; returns the work."""
    params = Params(body)
    action = params.choice("action", ACTIONS, "jitter")
    prior = models.load(params.raw("model", models.default))
    g = prior.generator
    steps = params.value("steps", steps_type, None)
    seed = params.value("seed", seed_type, 0)
    if action == "transfer" and g.num_classes == 0:
        raise GanpriorError(f"category transfer needs a class-conditional model; {prior.name} is not")
    attribute = None
    if action == "direction":
        name = params.raw("attribute", "brightness")
        attribute = semantic.resolve_attribute(str(name), prior, model_classifier(prior.name))
    paths = uploads.save_images(params.raw("images"), job.folder / "input")
    wanted = 2 if action == "morph" else 1
    if len(paths) != wanted:
        raise GanpriorError(f"{action} takes {wanted} image{'s' * (wanted > 1)}, not {len(paths)}")
    images = load_images(paths, g.resolution, g.channels).to(next(g.parameters()).device)
    samples = params.value("samples", integer(1, 16) if action == "jitter" else integer(20, 1_000_000), 0)
    frames = params.value("frames", integer(2, 101), 11)

    def work(job: Job) -> dict[str, Any]:
        if action == "direction":
            config = semantic.reconstruct_config(prior, steps, seed)
            job.stage("mGANprior fit", config.steps)
            fit = semantic.reconstruct(prior, images, steps, seed, callback=job.watcher())
            job.stage("finding the direction", 0)
            moved = semantic.edit_attribute(prior, fit, attribute, STRENGTHS, samples or 2000, seed)
            return {
                "input": uploads.image_url(images[0]),
                "reconstruction": uploads.image_url(fit.image[0]),
                "psnr": round(float(psnr(fit.image, images)[0]), 2),
                "values": list(STRENGTHS),
                "frames": [uploads.image_url(f) for f in moved.frames[0]],
                "scores": [round(float(v), 4) for v in moved.scores[0]],
                "accuracy": round(moved.direction.accuracy, 3),
                "change_rate": round(moved.rate, 3),
            }
        job.stage("DGP fit", edit.reconstruct_config(prior, steps, seed).steps)
        rec = edit.reconstruct(prior, images, steps, seed, callback=job.watcher())
        edit.check_reconstruction(images, rec)
        result = {
            "inputs": [uploads.image_url(image) for image in images],
            "reconstructions": [uploads.image_url(image) for image in rec.image],
            "psnr": [round(float(v), 2) for v in psnr(rec.image, images)],
        }
        if action == "jitter":
            variants = edit.jitter(prior, rec, SIGMAS, samples or 4, seed)[0]  # (S, K, C, H, W)
            return result | {
                "values": list(SIGMAS),
                "frames": [[uploads.image_url(v) for v in row] for row in variants],
            }
        if action == "morph":
            sequence = edit.morph(prior, rec, frames)
            gif = save_gif(sequence, job.folder / "morph.gif")
            values = [round(t, 3) for t in torch.linspace(0, 1, frames).tolist()]
            return result | {
                "values": values,
                "frames": [uploads.image_url(f) for f in sequence],
                "gif": job.offer(gif),
            }
        classes = list(range(g.num_classes))
        rendered = edit.transfer(prior, rec, classes)[0]
        names = prior.card.get("classes") or [str(c) for c in classes]
        source = rec.classes.argmax(1).tolist() if rec.classes is not None else []
        return result | {
            "classes": names,
            "frames": [uploads.image_url(f) for f in rendered],
            "reconstructed_as": [names[c] for c in source],
        }

    return work

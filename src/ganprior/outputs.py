"""The files one restored image leaves in an output folder (``ganprior restore`` and ``ganprior ui``):
its PNGs (``report.save_restoration_outputs``), its JSON report and, for ``reconstruct``, the saved
reconstruction that ``ganprior edit`` starts from."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from .checkpoint import Prior
from .edit import Reconstruction
from .imageio import save_image
from .pipeline import Restoration
from .report import loss_curve, save_restoration_outputs


def write_outputs(
    out: Path,
    path: Path,
    stem: str,
    part: Restoration,
    j: int,
    prior: Prior,
    settings: dict,
    mask_info: dict | None,
    reference: Tensor | None,
    seconds: float,
    framed: tuple[Tensor, dict[str, object]] | None,
) -> list[str]:
    """Image ``j`` of a finished batch ``part`` (input ``path``, written as ``stem``: unique among
    the inputs, ``report.output_stems``): its PNGs, JSON report and, for reconstruct, its saved
    reconstruction. ``settings``: the run's (with ``task`` and ``method``); ``framed``: the result at
    the photo's own size and how it was put there (``paste.in_frame``), or None. Returns the names
    written."""
    report = {
        "input": str(path),
        "settings": settings,
        "model": prior.card,
        "degradation": part.operator.describe(),
        "method_config": part.config.to_dict(),
        "seconds_per_image": seconds,
        "loss_curve": loss_curve(part.result.losses[:, j]),
        "metrics": {k: float(v[j]) for k, v in part.metrics.items()},
    }
    if mask_info is not None:
        report["mask"] = mask_info
    if framed is not None:
        report["frame"] = framed[1]
    if settings["task"] == "reconstruct":  # what `ganprior edit` needs to start from this fit
        name = f"{stem}_latent.safetensors"
        report["reconstruction"] = save_reconstruction(part, j, prior, out / name, settings).name
    if part.result.mask is not None:  # mask-free methods: the detected mask, white = intact
        report["detected_mask"] = save_image(1 - 2 * part.result.mask[j], out / f"{stem}_mask.png").name
    full = None if framed is None else framed[0]
    names = save_restoration_outputs(
        out, stem, part.observation[j], part.raw[j], part.restored[j], reference, report, full
    )
    extra = [report[k] for k in ("reconstruction", "detected_mask") if k in report]
    return [*names.values(), f"{stem}.json", *extra]


def save_reconstruction(result: Restoration, i: int, prior: Prior, path: Path, settings: dict) -> Path:
    """Image ``i``'s latent(s), class, tuned weights and images, for ``ganprior edit``."""
    found = result.result
    state = {k: v[i : i + 1] for k, v in (found.generator_state or {}).items()}
    classes = None if found.classes is None else found.classes[i : i + 1]
    rec = Reconstruction(state, found.latent[i : i + 1], classes, found.image[i : i + 1])
    return rec.save(
        path, prior, result.observation[i], {"method": settings["method"], "config": result.config.to_dict()}
    )

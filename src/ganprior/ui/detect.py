"""The Detect tab: images (or zips of them) checked by a texture or product prior, as ``ganprior
detect`` does it (``anomaly.detect``, the files of ``report.write_detection``). The page gets each
image's raw anomaly map once and recolours it for any threshold itself; the CSV at a threshold is
``csv``, without running the solver again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..anomaly import DETECTORS, detect, detector_config
from ..commands.common import number, seed_type, steps_type
from ..errors import GanpriorError
from ..imageio import load_images
from ..report import csv_text, detection_rows, output_stems, write_csv, write_detection
from ..robust import stored_calibration
from ..solvers import Watcher
from . import uploads
from .jobs import Job
from .params import Models, Params

BATCH = 16


def calibrated(card: dict[str, Any]) -> list[str]:
    """The detectors a model's card holds a pixel threshold for (what ``detect`` needs)."""
    return [m for m in DETECTORS if "threshold" in (card.get("calibration") or {}).get(m, {})]


def prepare(body: Any, job: Job, models: Models) -> Callable[[Job], dict[str, Any]]:
    """Check the request and write its images into the job's folder; returns the work."""
    params = Params(body)
    prior = models.load(params.raw("model", "brick32"))
    method = params.choice("method", list(DETECTORS), "rrgi")
    calibration = stored_calibration(prior, method)
    if calibration is None or "threshold" not in calibration:
        offered = [c["name"] for c in models.cards() if calibrated(c)]
        raise GanpriorError(
            f"model {prior.name} has no calibration for {method}; use a calibrated model "
            f"({', '.join(offered) or 'none here'})"
        )
    steps = params.value("steps", steps_type, calibration.get("steps"))
    seed = params.value("seed", seed_type, 0)
    paths = uploads.save_images(params.raw("images"), job.folder / "input")
    g = prior.generator
    images = load_images(paths, g.resolution, g.channels)
    stems, _ = output_stems(paths)
    names = [p.name for p in paths]
    out = job.folder / "out"
    out.mkdir()

    total = detector_config(method, calibration.get("lambda", 0.0), steps, seed).steps

    def work(job: Job) -> dict[str, Any]:
        def per_batch(index: int, count: int) -> Watcher:
            job.stage(f"{method} batch {index + 1}/{count}", total)
            return job.watcher()

        found = detect(prior, images, method, calibration, steps, seed, BATCH, callback=per_batch)
        maps, scores = found.maps.cpu(), found.scores.cpu()
        rows = write_detection(out, names, stems, images, maps, scores, calibration)
        write_csv(rows, out / "report.csv")
        job.data.update(names=names, stems=stems, maps=maps, scores=scores, calibration=calibration)
        shown = [
            {
                "name": name,
                "image": uploads.image_url(images[i]),
                "map": [round(v, 5) for v in maps[i, 0].flatten().tolist()],
                "width": maps.shape[-1],
                "height": maps.shape[-2],
                "score": rows[i]["score"],
                "anomalous": rows[i]["anomalous"],
                "heatmap": job.offer(out / rows[i]["heatmap"]),
            }
            for i, name in enumerate(names)
        ]
        job.offer(out / "report.csv")
        return {
            "threshold": calibration["threshold"],
            "image_threshold": calibration["image_threshold"],
            "max": float(maps.max()),
            "images": shown,
            "csv": f"/api/jobs/{job.id}/report.csv",
        }

    return work


def csv(job: Job, threshold: str | None) -> str:
    """The job's report.csv with masks at ``threshold`` (default: the calibrated one)."""
    if job.state != "done":
        raise GanpriorError(f"job {job.id} has no report yet ({job.state})")
    data = job.data
    calibration = data["calibration"]
    level = Params({"threshold": threshold}).value("threshold", number(0), calibration["threshold"])
    masks = (data["maps"] > level).float()
    return csv_text(
        detection_rows(data["names"], data["stems"], data["scores"], masks, calibration["image_threshold"])
    )

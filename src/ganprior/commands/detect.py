"""``ganprior detect``: pixel-wise anomaly maps, binary masks and image scores for image files or folders."""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path
from typing import Any

from torch import Tensor
from tqdm import tqdm

from ..anomaly import DETECTORS, detect
from ..batching import batches
from ..checkpoint import Prior
from ..distributed import Pool
from ..errors import GanpriorError
from ..imageio import collect_images, load_images
from ..manifest import MANIFEST, Manifest
from ..report import output_stems, write_csv, write_detection, write_json
from ..robust import stored_calibration
from . import COMMANDS
from .common import (
    add_model_arguments,
    add_ray_arguments,
    batch_type,
    driver_model,
    exit_status,
    for_workers,
    record_failures,
    run_settings,
    seed_type,
    steps_type,
    worker_model,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "detect",
        help=COMMANDS["detect"],
        description=(
            "Unsupervised pixel-wise anomaly detection: each image is fitted to the model (centre crop, resize, "
            "its channels) and explained by the GAN; pixels it cannot explain are anomalous. rrgi (default) and "
            "rgi learn a sparse mask M together with the latent (R-RGI also fine-tunes the generator per image); "
            "residual is the AnoGAN-style |x - G(z*)| of plain inversion. The binary mask uses the threshold "
            "calibrated on normal images and stored with the model."
        ),
        epilog=(
            "example:\n  ganprior detect parts/ --model brick32 --out inspection/\n"
            "outputs: NAME_heatmap.png (image | anomaly overlay | mask), NAME_mask.png (white = anomalous),\n"
            "report.csv and report.json (image score, flagged fraction, anomalous yes/no, calibration)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("--method", default="rrgi", choices=DETECTORS, help="detector (default rrgi)")
    add_model_arguments(parser)
    parser.add_argument("--steps", type=steps_type, help="optimisation steps (default: the calibration's)")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument(
        "--batch-size", type=batch_type, default=16, help="images solved at once (default 16)"
    )
    parser.add_argument(
        "--out", required=True, help="output folder (must be new or empty unless --overwrite)"
    )
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    add_ray_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = collect_images(args.inputs)
    stems, renamed = output_stems(paths)
    manifest = Manifest.open(args.out, run_settings(args), args.overwrite, args.inputs)
    out, todo = manifest.folder, manifest.todo(paths, stems)
    if not todo:
        print(f"nothing to do: all {len(paths)} image(s) are done in {out} ({MANIFEST})")
        return 0
    if args.ray is not None:
        args = for_workers(args)
    prior = driver_model(args)
    calibration = stored_calibration(prior, args.method)
    if calibration is None:
        raise GanpriorError(
            f"model {prior.name} has no calibration for {args.method}; use a calibrated zoo model "
            "(`ganprior models`), or calibrate yours on normal images with ganprior.anomaly.calibrate"
        )
    g = prior.generator
    images = load_images([paths[i] for i in todo], g.resolution, g.channels)
    steps = args.steps or calibration.get("steps")
    parts = batches(len(todo), args.batch_size)
    work = partial(anomaly_batch, method=args.method, calibration=calibration, steps=steps, seed=args.seed)
    bar = tqdm(total=len(todo), desc=f"{args.method} detect", unit="image", dynamic_ncols=True, disable=None)
    failed: list[Path] = []

    def write_batch(k: int, found: tuple[Tensor, Tensor]) -> None:
        index = [todo[j] for j in parts[k]]
        maps, scores = found
        names = [paths[i] for i in index]
        rows = write_detection(
            out, names, [stems[i] for i in index], images[parts[k]], maps, scores, calibration
        )
        for i, row in zip(index, rows, strict=True):
            manifest.record(stems[i], paths[i], [row["heatmap"], row["mask"]], row=row)
        bar.update(len(index))

    def fail_batch(k: int, error: BaseException) -> None:
        inputs = [todo[j] for j in parts[k]]
        record_failures(manifest, "detect", [paths[i] for i in inputs], [stems[i] for i in inputs], error)
        failed.extend(paths[i] for i in inputs)
        bar.update(len(inputs))

    started = time.perf_counter()
    if args.ray is None:
        for k, batch in enumerate(parts):
            write_batch(k, work(prior, images[batch]))
    else:
        with Pool(args.ray, partial(worker_model, args), args.workers) as pool:
            pool.map(work, [images[b] for b in parts], write_batch, fail_batch)
    bar.close()
    seconds = time.perf_counter() - started
    rows = [
        entry["row"] for stem in stems if (entry := manifest.entries.get(stem, {})).get("status") == "done"
    ]
    write_csv(rows, out / "report.csv")
    write_json(
        {
            "model": prior.card.get("name", prior.name),
            "method": args.method,
            "calibration": calibration,
            "steps": steps,
            "seconds_per_image": seconds / len(todo),
            "images": rows,
        },
        out / "report.json",
    )
    flagged = sum(r["anomalous"] for r in rows)
    summary = f"{len(rows)} image(s), {flagged} anomalous, in {seconds:.1f} s -> {out}"
    if len(todo) < len(paths):
        summary += f" ({len(paths) - len(todo)} done before, kept)"
    if renamed:
        summary += f"; {len(renamed)} name(s) taken by an earlier input, written as: " + ", ".join(renamed)
    print(summary)
    return exit_status("detect", len(failed), manifest)


def anomaly_batch(
    prior: Prior, images: Tensor, method: str, calibration: dict[str, Any], steps: int | None, seed: int
) -> tuple[Tensor, Tensor]:
    """One batch's anomaly maps (B, 1, H, W) and image scores (B,), on the CPU (``anomaly.detect``)."""
    device = next(prior.generator.parameters()).device
    found = detect(prior, images.to(device), method, calibration, steps, seed)
    return found.maps.cpu(), found.scores.cpu()

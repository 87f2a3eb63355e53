"""``ganprior detect``: pixel-wise anomaly maps, binary masks and image scores for image files or folders."""

from __future__ import annotations

import argparse
import time

from ..anomaly import DETECTORS, detect
from ..errors import GanpriorError
from ..imageio import collect_images, load_images
from ..report import output_stems, prepare_output_dir, write_detection, write_json
from ..robust import stored_calibration
from . import COMMANDS
from .common import add_model_arguments, batch_type, load_model, seed_type, steps_type


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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = collect_images(args.inputs)
    stems, renamed = output_stems(paths)
    out = prepare_output_dir(args.out, args.overwrite, args.inputs)  # checked (and probed) before any work
    prior = load_model(args)
    calibration = stored_calibration(prior, args.method)
    if calibration is None:
        raise GanpriorError(
            f"model {prior.name} has no calibration for {args.method}; use a calibrated zoo model "
            "(`ganprior models`), or calibrate yours on normal images with ganprior.anomaly.calibrate"
        )
    g = prior.generator
    images = load_images(paths, g.resolution, g.channels)
    device = next(g.parameters()).device
    steps = args.steps or calibration.get("steps")
    started = time.perf_counter()
    found = detect(prior, images.to(device), args.method, calibration, steps, args.seed, args.batch_size)
    seconds = time.perf_counter() - started
    rows = write_detection(out, paths, stems, images, found.maps.cpu(), found.scores.cpu(), calibration)
    write_json(
        {
            "model": prior.card.get("name", prior.name),
            "method": args.method,
            "calibration": calibration,
            "steps": steps,
            "seconds_per_image": seconds / len(paths),
            "images": rows,
        },
        out / "report.json",
    )
    flagged = sum(r["anomalous"] for r in rows)
    summary = f"{len(paths)} image(s), {flagged} anomalous, in {seconds:.1f} s -> {out}"
    if renamed:
        summary += f"; {len(renamed)} name(s) taken by an earlier input, written as: " + ", ".join(renamed)
    print(summary)
    return 0

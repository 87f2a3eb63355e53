"""``ganprior demo``: restore bundled real photographs and generated samples for every task."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from ..gallery import DEMO_METHODS, build_gallery
from ..report import prepare_output_dir
from ..solvers import METHODS
from . import COMMANDS
from .common import add_model_arguments, load_model, seed_type, steps_type


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help=COMMANDS["demo"],
        description="Restore real face photographs (from the scikit-image and matplotlib wheels, fitted to the "
        "model) and two of the model's own samples for every task (inpaint, sr, colorize, denoise, hybrid) "
        "with plain inversion, mGANprior and DGP side by side; then mask-free inpainting (RGI) and anomaly "
        "detection (R-RGI on brick32). Writes one PNG grid per part and an index.md with per-image PSNR "
        "and the medians over the real photographs. A few minutes on 2 CPU cores.",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(DEMO_METHODS),
        help=f"the methods compared (default {' '.join(DEMO_METHODS)})",
    )
    parser.add_argument(
        "--steps",
        type=steps_type,
        help="optimisation steps for every method (default: the demo's own, short)",
    )
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--out", default="demo-gallery", help="output folder (default demo-gallery)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    prior = load_model(args)
    out = prepare_output_dir(args.out, args.overwrite)
    bar = tqdm(desc="demo", unit="step", dynamic_ncols=True, disable=None)

    def progress(part: str):
        bar.set_description(f"demo {part}")

        def on_step(step: int, losses) -> None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{losses.mean():.4f}")

        return on_step

    started = time.perf_counter()
    summary = build_gallery(prior, Path(out), args.methods, args.steps, args.seed, progress)
    bar.close()
    for part, rows in summary.items():
        for row, scores in rows.items():
            print(f"{part:9s} {row:7s} " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    print(f"gallery: {Path(out) / 'index.md'} ({time.perf_counter() - started:.0f} s)")
    return 0

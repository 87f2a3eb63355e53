"""``ganprior demo``: restore bundled real photographs and generated samples for every task."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..gallery import build_gallery
from ..report import prepare_output_dir
from . import COMMANDS
from .common import add_model_arguments, load_model, seed_type, steps_type


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help=COMMANDS["demo"],
        description="Restore real face photographs (from the scikit-image and matplotlib wheels, fitted to the "
        "model) and generated samples for every task (inpaint, sr, colorize, denoise, hybrid); write "
        "one PNG grid per task and an index.md with the median metrics.",
    )
    add_model_arguments(parser)
    parser.add_argument("--method", default="invert", help="restoration method (default invert)")
    parser.add_argument("--steps", type=steps_type, help="optimisation steps (default: the method's preset)")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument("--out", default="demo-gallery", help="output folder (default demo-gallery)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    prior = load_model(args)
    out = prepare_output_dir(args.out, args.overwrite)
    bar = tqdm(desc="demo", unit="step", dynamic_ncols=True, disable=None)

    def progress(task: str):
        bar.set_description(f"demo {task}")

        def on_step(step: int, losses) -> None:
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{losses.mean():.4f}")

        return on_step

    summary = build_gallery(prior, Path(out), args.method, args.steps, args.seed, progress)
    bar.close()
    for task, scores in summary.items():
        print(f"{task:9s} " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    print(f"gallery: {Path(out) / 'index.md'}")
    return 0

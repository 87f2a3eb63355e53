"""``ganprior train``: train a generator + discriminator prior on a dataset or a folder of images."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from . import COMMANDS
from .common import batch_type, integer, number, seed_type, steps_type


def register(sub: argparse._SubParsersAction) -> None:
    from ..data import DATASETS

    parser = sub.add_parser(
        "train",
        help=COMMANDS["train"],
        description="Train a staged generator and a spectral-norm discriminator (hinge loss, EMA of G, "
        "DiffAugment on small sets) on a named dataset or a folder of images (optional class sub-folders), "
        "then export OUT/model.safetensors with its card, sample grid and quality scores. The output "
        "loads anywhere a model is asked for: --model OUT/model.safetensors.",
    )
    parser.add_argument(
        "--data", required=True, help=f"dataset ({', '.join(DATASETS)}) or a folder of images"
    )
    parser.add_argument("--res", type=int, default=32, choices=[8, 16, 32, 64, 128], help="resolution (px)")
    parser.add_argument(
        "--channels", type=int, choices=[1, 3], help="1 (gray) or 3 (RGB); default: the data's"
    )
    parser.add_argument("--arch", default="sngan", choices=["sngan"], help="architecture (default sngan)")
    parser.add_argument(
        "--conditional", action="store_true", help="class-conditional (needs labels or class sub-folders)"
    )
    parser.add_argument("--steps", type=steps_type, default=5000, help="training steps (D+G updates)")
    parser.add_argument("--batch", type=batch_type, default=64, help="batch size")
    parser.add_argument("--lr", type=number(0, 1), default=2e-4, help="learning rate of G and D")
    parser.add_argument(
        "--augment",
        default="auto",
        help="DiffAugment policy: auto (on for < 20k images), none, or e.g. color,translation,cutout",
    )
    width = integer(1, 4096)
    parser.add_argument("--g-width", type=width, default=256, help="generator width at 4x4")
    parser.add_argument(
        "--g-min-width", type=width, default=32, help="generator width floor (its last blocks)"
    )
    parser.add_argument("--d-width", type=width, default=64, help="discriminator width of its first block")
    parser.add_argument("--seed", type=seed_type, default=0)
    parser.add_argument(
        "--name", default="", help="model name in the card (default: the --out folder's name)"
    )
    parser.add_argument("--out", required=True, help="output folder (new or empty; with --resume, the run's)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument(
        "--sample-every", type=integer(1), default=500, help="write a sample grid every N steps"
    )
    parser.add_argument(
        "--checkpoint-every", type=integer(1), default=250, help="write a checkpoint every N steps"
    )
    parser.add_argument("--no-eval", action="store_true", help="skip the quality scores at the end")
    parser.add_argument(
        "--threads",
        type=integer(0, 1024),
        default=0,
        help="CPU threads (default: torch's; 1 is fastest on a busy machine)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def command_line(args: argparse.Namespace) -> str:
    """The canonical command that reproduces this run."""
    parts = ["ganprior", "train", "--data", str(args.data), "--res", str(args.res)]
    if args.channels:
        parts += ["--channels", str(args.channels)]
    parts += ["--arch", args.arch]
    if args.conditional:
        parts.append("--conditional")
    parts += ["--steps", str(args.steps), "--batch", str(args.batch), "--lr", str(args.lr)]
    parts += ["--augment", args.augment, "--g-width", str(args.g_width)]
    if args.g_min_width != 32:
        parts += ["--g-min-width", str(args.g_min_width)]
    parts += ["--d-width", str(args.d_width)]
    parts += ["--seed", str(args.seed)]
    if args.threads:
        parts += ["--threads", str(args.threads)]
    if args.name:
        parts += ["--name", args.name]
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from ..train import TrainConfig, Trainer, prepare_out

    out = Path(args.out)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        data=args.data,
        resolution=args.res,
        channels=args.channels,
        conditional=args.conditional,
        arch=args.arch,
        steps=args.steps,
        batch=args.batch,
        lr_g=args.lr,
        lr_d=args.lr,
        augment=args.augment,
        g_width=args.g_width,
        d_width=args.d_width,
        generator_options={} if args.g_min_width == 32 else {"min_width": args.g_min_width},
        seed=args.seed,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        name=args.name,
        command=command_line(args),
    )
    resume = prepare_out(out, args.resume)
    trainer = Trainer(cfg, out)
    if resume:
        trainer.load_checkpoint()
        print(f"resuming {out} at step {trainer.step}")
    print(
        f"training {cfg.arch} on {cfg.data} ({len(trainer.data)} images, "
        f"{len(trainer.data.class_names) if cfg.conditional else 'no'} classes) at {cfg.resolution} px, "
        f"augment: {trainer.policy}"
    )
    trainer.run(progress=not args.quiet)
    scores = None
    if not args.no_eval:
        from ..classifier import score_trainer

        scores = score_trainer(trainer, progress=not args.quiet)
    path = trainer.export(scores)
    print(f"model: {path}")
    if scores:
        print(json.dumps(scores, indent=2))
    return 0

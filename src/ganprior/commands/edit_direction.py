"""``ganprior edit direction``: move mGANprior reconstructions along an attribute direction."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..checkpoint import Prior
from ..classifier import load_classifier, model_classifier
from ..imageio import grid, save_image
from ..report import write_json
from ..semantic import MEASURES, edit_attribute, reconstruct, resolve_attribute
from .common import Action, integer, load_inputs, number


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument(
        "--attribute",
        required=True,
        help=f"{', '.join(MEASURES)}, or class:K (a class index or name; needs a classifier)",
    )
    parser.add_argument(
        "--strengths",
        type=number(-1000, 1000),
        nargs="+",
        default=[-3.0, -1.5, 0.0, 1.5, 3.0],
        help="steps along the unit direction (default -3 -1.5 0 1.5 3; include 0 for the change rate)",
    )
    parser.add_argument(
        "--samples",
        type=integer(20, 1_000_000),
        default=2000,
        help="labelled prior samples for the direction (default 2000)",
    )
    parser.add_argument(
        "--classifier", help="classifier file for class:K (default: the one shipped for the model, if any)"
    )


def _classifier(args: argparse.Namespace, prior: Prior) -> torch.nn.Module | None:
    if args.classifier:
        return load_classifier(args.classifier)
    return model_classifier(prior.name)


def _direction(args: argparse.Namespace, prior: Prior, out: Path) -> list[Path]:
    attribute = resolve_attribute(args.attribute, prior, _classifier(args, prior))
    images = load_inputs(prior, args.inputs)
    rec = reconstruct(prior, images, args.steps, args.seed)
    edit = edit_attribute(prior, rec, attribute, args.strengths, args.samples, args.seed)
    rows = [
        torch.cat([images[i : i + 1], edit.reconstruction.image[i : i + 1], edit.frames[i]])
        for i in range(len(images))
    ]
    path = save_image(grid(torch.cat(rows), len(args.strengths) + 2), out / "direction.png")
    report = write_json(
        {
            "attribute": args.attribute,
            "layout": "rows: images; columns: input, reconstruction, then one per strength",
            "strengths": args.strengths,
            "direction_accuracy": edit.direction.accuracy,
            "scores": edit.scores,
            "change_rate": edit.rate,
            "codes": edit.reconstruction.latent.shape[1],
            "layer": edit.reconstruction.extras["layer"],
        },
        out / "direction.json",
    )
    print(
        f"{args.attribute}: direction accuracy {edit.direction.accuracy:.2f}, change rate {edit.rate:.2f} "
        f"over {len(images)} images"
    )
    return [path, report]


DIRECTION = Action(
    "semantic editing: mGANprior codes moved along an attribute's linear-classifier normal (--steps: mGANprior iterations)",
    _arguments,
    _direction,
)

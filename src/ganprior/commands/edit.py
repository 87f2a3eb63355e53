"""``ganprior edit ACTION``: manipulate images through a GAN prior fitted to them by DGP.

Actions live in ``ACTIONS`` (name -> ``Action``): each adds its own arguments and writes its
outputs; the model arguments, --steps, --seed, --out and --overwrite are shared. A new action is
one more entry.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .. import edit
from ..checkpoint import Prior
from ..errors import GanpriorError
from ..imageio import grid, save_gif, save_image
from ..report import captioned_strip, prepare_output_dir, write_json
from . import COMMANDS
from .common import (
    Action,
    add_model_arguments,
    integer,
    load_inputs,
    load_model,
    number,
    seed_type,
    steps_type,
)
from .edit_direction import DIRECTION

_INPUT_HELP = (
    "image files or folders, or reconstructions saved by `ganprior restore --task reconstruct` "
    "(NAME_latent.safetensors: no new fit)"
)


def _fitted(args: argparse.Namespace, prior: Prior) -> tuple[torch.Tensor, edit.Reconstruction]:
    """The inputs fitted to the prior and their DGP reconstruction, or both read back from saved
    reconstructions (``ganprior restore --task reconstruct`` writes NAME_latent.safetensors); a
    reconstruction below ``edit.RECONSTRUCTION_FLOOR_DB`` is refused, not edited."""
    saved = [Path(p).suffix == ".safetensors" for p in args.inputs]
    if any(saved) and not all(saved):
        raise GanpriorError("give either images or saved reconstructions (NAME_latent.safetensors), not both")
    if all(saved):
        rec, images = edit.Reconstruction.load(args.inputs, prior)
    else:
        images = load_inputs(prior, args.inputs)
        rec = edit.reconstruct(prior, images, args.steps, args.seed)
    edit.check_reconstruction(images, rec)
    return images, rec


def _jitter_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=_INPUT_HELP)
    parser.add_argument(
        "--sigmas", type=number(0, 100), nargs="+", default=[0.3, 0.5, 0.7], help="jitter strengths"
    )
    parser.add_argument(
        "--samples", type=integer(1, 1000), default=6, help="samples per strength (default 6)"
    )


def _jitter(args: argparse.Namespace, prior: Prior, out: Path) -> list[Path]:
    images, rec = _fitted(args, prior)
    variants = edit.jitter(prior, rec, args.sigmas, args.samples, args.seed)  # (N, S, K, C, H, W)
    files = []
    for i, image in enumerate(images):
        rows = [
            torch.cat([image[None], rec.image[i : i + 1], variants[i, s]]) for s in range(len(args.sigmas))
        ]
        files.append(save_image(grid(torch.cat(rows), args.samples + 2), out / f"jitter_{i:03d}.png"))
    write_json(
        {
            "sigmas": args.sigmas,
            "samples": args.samples,
            "layout": "rows: σ; columns: input, reconstruction, samples",
        },
        out / "jitter.json",
    )
    return files


def _morph_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs=2, metavar="IMAGE", help="the two images to morph between (" + _INPUT_HELP + ")"
    )
    parser.add_argument(
        "--frames", type=integer(2, 1000), default=11, help="frames including both ends (default 11)"
    )


def _morph(args: argparse.Namespace, prior: Prior, out: Path) -> list[Path]:
    images, rec = _fitted(args, prior)
    frames = edit.morph(prior, rec, args.frames)
    shown = [images[0], *frames, images[1]]
    captions = ["A", *[f"{t:.1f}" for t in torch.linspace(0, 1, args.frames).tolist()], "B"]
    strip = save_image(captioned_strip(shown, captions), out / "morph.png")
    return [strip, save_gif(frames, out / "morph.gif")]


def _transfer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=_INPUT_HELP)
    parser.add_argument(
        "--classes", type=integer(0), nargs="+", help="target classes (default: all of the model's)"
    )


def _transfer(args: argparse.Namespace, prior: Prior, out: Path) -> list[Path]:
    g = prior.generator
    if g.num_classes == 0:
        raise GanpriorError(f"category transfer needs a class-conditional model; {prior.name} is not")
    classes = args.classes or list(range(g.num_classes))
    images, rec = _fitted(args, prior)
    rendered = edit.transfer(prior, rec, classes)  # (N, K, C, H, W)
    names = prior.card.get("classes") or [str(c) for c in range(g.num_classes)]
    rows = [torch.cat([images[i : i + 1], rec.image[i : i + 1], rendered[i]]) for i in range(len(images))]
    path = save_image(grid(torch.cat(rows), len(classes) + 2), out / "transfer.png")
    source = rec.classes.argmax(1).tolist() if rec.classes is not None else []
    write_json(
        {
            "layout": "rows: images; columns: input, reconstruction, then the target classes",
            "classes": [names[c] for c in classes],
            "reconstructed_as": [names[c] for c in source],
        },
        out / "transfer.json",
    )
    return [path]


ACTIONS: dict[str, Action] = {
    "jitter": Action(
        "random jittering: variations z + σε of each image's tuned latent", _jitter_arguments, _jitter
    ),
    "morph": Action(
        "morph two images: z, class and all tuned weights interpolated (GIF + strip)",
        _morph_arguments,
        _morph,
    ),
    "transfer": Action(
        "category transfer: each image re-rendered as every class (conditional models)",
        _transfer_arguments,
        _transfer,
    ),
    "direction": DIRECTION,
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "edit",
        help=COMMANDS["edit"],
        description="Fit each image with DGP (the generator is fine-tuned per image), then edit it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, action in ACTIONS.items():
        p = actions.add_parser(name, help=action.help, description=action.help)
        action.arguments(p)
        add_model_arguments(p)
        p.add_argument("--steps", type=steps_type, help="DGP iterations (default: the manipulation preset)")
        p.add_argument("--seed", type=seed_type, default=0)
        p.add_argument("--out", required=True, help="output folder (must be new or empty unless --overwrite)")
        p.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = prepare_output_dir(args.out, args.overwrite, args.inputs)  # checked (and probed) before any work
    prior = load_model(args)
    for path in ACTIONS[args.action].run(args, prior, out):
        print(path)
    return 0

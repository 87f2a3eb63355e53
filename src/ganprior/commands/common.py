"""What several commands share: the model arguments, ``KEY=VALUE`` options, loading the prior and
the input images, a folder run's settings and its ``--ray`` workers, and the shape of an ``edit``
action."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .. import zoo
from ..checkpoint import Prior
from ..distributed import LOCAL, error_line
from ..errors import GanpriorError
from ..imageio import collect_images, load_images
from ..manifest import MANIFEST, Manifest
from ..pipeline import resolve_device
from ..sources import sha256_of

MAX_STEPS = 1_000_000
"""The most optimisation or training steps a run may ask for (a loss history of (steps, N) floats is kept)."""
MAX_SEED = 2**32 - 1


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [low, high] (no upper bound if ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high:,}"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    parse.__name__ = "integer"
    return parse


def number(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite float in [low, high] (either bound optional)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bound = " and ".join(
                part
                for part in (
                    f">= {low:g}" if low is not None else "",
                    f"<= {high:g}" if high is not None else "",
                )
                if part
            )
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    parse.__name__ = "number"
    return parse


steps_type = integer(1, MAX_STEPS)
seed_type = integer(0, MAX_SEED)
batch_type = integer(1, 4096)


def batch_or_auto(text: str) -> int | None:
    """``--batch-size``: a number of images, or ``auto`` (None: the largest batch the device holds)."""
    return None if text == "auto" else batch_type(text)


def add_model_arguments(parser: argparse.ArgumentParser, model: bool = True) -> None:
    """--model / --arch / --arch-option / --device and the generator's run-time options
    (--latent-space, --truncation, --noise) and --discriminator, shared by every command that loads a
    prior (``model=False``: the command takes the model as a positional argument of its own)."""
    if model:
        parser.add_argument(
            "--model",
            default=zoo.DEFAULT_MODEL,
            help=f"zoo model name (see `ganprior models`) or checkpoint file (default {zoo.DEFAULT_MODEL})",
        )
    parser.add_argument(
        "--arch", help="architecture of a bare checkpoint without ganprior metadata, e.g. dcgan"
    )
    parser.add_argument(
        "--arch-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture option for --arch, repeatable, e.g. --arch-option resolution=64",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--latent-space",
        choices=("z", "w", "w+"),
        help="what the solvers optimise (StyleGAN2: z, its mapped w, or w+ one w per layer; default w+)",
    )
    parser.add_argument(
        "--truncation",
        type=float,
        metavar="PSI",
        help="truncation ψ (StyleGAN2: styles pulled towards w_avg; BigGAN-deep: in (0, 1], its BN "
        "statistics and prior)",
    )
    parser.add_argument(
        "--noise",
        choices=("fixed", "random"),
        help="per-layer noise (StyleGAN2): the stored maps (default, as inversion needs) or fresh each call",
    )
    parser.add_argument(
        "--discriminator",
        metavar="FILE",
        help="take the discriminator from FILE (a BigGAN D_*.pth, or any checkpoint holding a D of the "
        "same resolution and classes), e.g. for DGP's feature loss",
    )


def parse_options(pairs: list[str], flag: str) -> dict[str, object]:
    """``KEY=VALUE`` pairs of a repeatable ``flag`` -> {key: int, float or str value}."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise GanpriorError(f"{flag} {pair!r} is not KEY=VALUE")
        for cast in (int, float):
            try:
                options[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key] = value
    return options


def load_model(args: argparse.Namespace) -> Prior:
    """The prior named by the model arguments, on ``--device``, with the run-time options and
    discriminator they ask for (refused in one line where the generator has no such option)."""
    device = resolve_device(args.device)
    prior = zoo.load(
        args.model, device, arch=args.arch, config=parse_options(args.arch_option, "--arch-option")
    )
    prior.configure(latent_space=args.latent_space, truncation=args.truncation, noise=args.noise)
    if args.discriminator is not None:
        zoo.attach_discriminator(prior, args.discriminator)
    return prior


def ray_address(text: str) -> str:
    """An argparse ``type`` for ``--ray``: refuses an existing file or folder, which is an input that
    ``--ray`` took for its address because it came first."""
    if Path(text).exists():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a file or folder, not a Ray address: put --ray after the inputs, or write --ray=local"
        )
    return text


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """--ray [ADDRESS] and --workers, for the commands that run a folder in batches."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        type=ray_address,
        metavar="ADDRESS",
        help="spread the batches over Ray workers (pip install 'ganprior[ray]'): no ADDRESS (or local) "
        "starts a local cluster, auto joins the running one, HOST:PORT or ray://HOST:PORT a given one. Each "
        "worker loads the model once and takes a GPU when the cluster has them (--device is then "
        "ignored); --model and --discriminator files must be readable at the same path on every node",
    )
    parser.add_argument(
        "--workers",
        type=integer(1),
        help="Ray workers (default: one per GPU of the cluster, else one per CPU)",
    )


def run_settings(args: argparse.Namespace) -> dict[str, object]:
    """What decides a folder run's results (``manifest.Manifest``): every option but the inputs, the
    output folder and how the work is spread (batch size, device, Ray), plus the bytes of the files
    among the options (mask, model, discriminator)."""
    ignored = {"run", "inputs", "out", "overwrite", "batch_size", "device", "command", "ray", "workers"}
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ignored}
    for option in ("mask", "model", "discriminator"):
        value = getattr(args, option, None)
        if value and Path(value).is_file():
            settings[f"{option}_sha256"] = sha256_of(Path(value))
    return settings


def driver_model(args: argparse.Namespace) -> Prior:
    """The prior in the command's own process: ``load_model`` on ``--device``, or with ``--ray`` on
    the CPU (there the driver only simulates the observations, resolves the settings and writes the
    files; the workers solve)."""
    return load_model(args if args.ray is None else argparse.Namespace(**{**vars(args), "device": "cpu"}))


def worker_model(args: argparse.Namespace) -> Prior:
    """The prior as a Ray worker loads it: ``load_model`` on the worker's GPU when Ray gave it one,
    else on its CPU."""
    import ray

    return load_model(argparse.Namespace(**{**vars(args), "device": "cuda" if ray.get_gpu_ids() else "cpu"}))


def for_workers(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the model and discriminator files as absolute paths (a worker does not run in the
    driver's folder)."""
    files = {
        k: str(Path(v).resolve())
        for k in ("model", "discriminator")
        if (v := getattr(args, k, None)) and Path(v).is_file()
    }
    return argparse.Namespace(**{**vars(args), **files})


def record_failures(
    manifest: Manifest, command: str, sources: list[Path], stems: list[str], error: BaseException
) -> None:
    """A batch that failed: each of its ``sources`` (written as ``stems``) marked failed in the
    manifest with the error's line, and that line on stderr (above the progress bar)."""
    line = error_line(error)
    for source, stem in zip(sources, stems, strict=True):
        manifest.fail(stem, source, line)
        tqdm.write(f"ganprior {command}: {source} failed: {line}", file=sys.stderr)


def exit_status(command: str, failed: int, manifest: Manifest) -> int:
    """0, or 1 after a line on stderr when ``failed`` images failed (their errors are in the manifest)."""
    if not failed:
        return 0
    print(
        f"ganprior {command}: {failed} image(s) failed (errors in {manifest.folder / MANIFEST}); "
        "the same command again retries them",
        file=sys.stderr,
    )
    return 1


def load_inputs(prior: Prior, inputs: list[str]) -> torch.Tensor:
    """The images in ``inputs`` (files or folders) fitted to the prior, on its device: (N, C, H, W)."""
    g = prior.generator
    paths = collect_images(inputs)
    return load_images(paths, g.resolution, g.channels).to(next(g.parameters()).device)


@dataclass(frozen=True)
class Action:
    """A sub-action of ``ganprior edit``. help: one line; arguments: adds the action's own options;
    run: (args, prior, out) -> files written."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Prior, Path], list[Path]]
